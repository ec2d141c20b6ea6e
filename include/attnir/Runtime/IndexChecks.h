//===- IndexChecks.h - contents of index operands, checked once -----------===//
//
// Block lists and document ids are data, so their validity is checked on the
// values: by the CPU runtime before each call (EntryABI::checkIndexOperands)
// and by the float64 reference before it reads them. One function each, so
// the two never disagree on what a valid list is (shared/patterns.md A1).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNIR_RUNTIME_INDEXCHECKS_H
#define ATTNIR_RUNTIME_INDEXCHECKS_H

#include "attnir/Support/HostTensor.h"
#include <string>
#include <vector>

namespace attnir {

/// A contiguous row-major i32 or i64 tensor in host memory, and the name
/// errors call it by.
struct IndexView {
  const void *data = nullptr;
  DType dtype = DType::I32;
  std::vector<int64_t> shape;
  std::string name;

  int64_t at(int64_t flat) const {
    return dtype == DType::I64 ? static_cast<const int64_t *>(data)[flat]
                               : static_cast<const int32_t *>(data)[flat];
  }
  static IndexView of(const HostTensor &t, std::string name) {
    return {t.raw(), t.dtype, t.shape, std::move(name)};
  }
};

/// Document ids [B, L]: non-decreasing along each row (packed documents).
bool checkDocumentIds(const IndexView &ids, std::string &error);

/// A block list's values (shapes checked already: indices [B, Hl, Q, K],
/// counts [B, Hl, Q]): counts in [0, K], the first `count` ids of each row
/// in [0, ceil(m / blockK)).
bool checkBlockListValues(const IndexView &indices, const IndexView &counts,
                          int64_t m, int64_t blockK, std::string &error);

/// A permutation [B, H, N] (attn.permute's perm): each row holds every
/// position 0 .. N-1 once.
bool checkPermutation(const IndexView &perm, std::string &error);

/// Positions [B, H, S] along a dimension of length `m` (attn.gather's
/// rows): each in [0, m).
bool checkRowsInRange(const IndexView &rows, int64_t m, std::string &error);

} // namespace attnir

#endif // ATTNIR_RUNTIME_INDEXCHECKS_H
