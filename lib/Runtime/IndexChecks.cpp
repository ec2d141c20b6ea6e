//===- IndexChecks.cpp - contents of index operands -----------------------===//

#include "attnir/Runtime/IndexChecks.h"

namespace attnir {

bool checkDocumentIds(const IndexView &ids, std::string &error) {
  const std::vector<int64_t> &s = ids.shape;
  for (int64_t b = 0; b < s[0]; ++b)
    for (int64_t p = 1; p < s[1]; ++p) {
      int64_t prev = ids.at(b * s[1] + p - 1), cur = ids.at(b * s[1] + p);
      if (cur < prev) {
        error = "argument '" + ids.name + "'[" + std::to_string(b) + ", " +
                std::to_string(p) + "] is " + std::to_string(cur) +
                ", less than the " + std::to_string(prev) +
                " before it; document ids must be non-decreasing";
        return false;
      }
    }
  return true;
}

bool checkBlockListValues(const IndexView &indices, const IndexView &counts,
                          int64_t m, int64_t blockK, std::string &error) {
  const std::vector<int64_t> &is = indices.shape;
  int64_t rows = is[0] * is[1] * is[2], k = is[3];
  int64_t numBlocks = (m + blockK - 1) / blockK;
  auto where = [&](int64_t row) {
    int64_t qb = row % is[2], h = (row / is[2]) % is[1], b = row / is[2] / is[1];
    return "[" + std::to_string(b) + ", " + std::to_string(h) + ", " +
           std::to_string(qb);
  };
  for (int64_t row = 0; row < rows; ++row) {
    int64_t cnt = counts.at(row);
    if (cnt < 0 || cnt > k) {
      error = "argument '" + counts.name + "'" + where(row) + "] is " +
              std::to_string(cnt) + "; counts must be in [0, " +
              std::to_string(k) + "]";
      return false;
    }
    for (int64_t t = 0; t < cnt; ++t) {
      int64_t id = indices.at(row * k + t);
      if (id < 0 || id >= numBlocks) {
        error = "argument '" + indices.name + "'" + where(row) + ", " +
                std::to_string(t) + "] is block " + std::to_string(id) +
                ", outside [0, " + std::to_string(numBlocks) +
                ") (M = " + std::to_string(m) +
                ", block_k = " + std::to_string(blockK) + ")";
        return false;
      }
    }
  }
  return true;
}

bool checkRowsInRange(const IndexView &rows, int64_t m, std::string &error) {
  const std::vector<int64_t> &s = rows.shape;
  int64_t n = s[0] * s[1] * s[2];
  for (int64_t e = 0; e < n; ++e) {
    int64_t p = rows.at(e);
    if (p < 0 || p >= m) {
      int64_t t = e % s[2], row = e / s[2];
      error = "argument '" + rows.name + "'[" + std::to_string(row / s[1]) + ", " +
              std::to_string(row % s[1]) + ", " + std::to_string(t) + "] is " +
              std::to_string(p) + ", outside [0, " + std::to_string(m) + ")";
      return false;
    }
  }
  return true;
}

bool checkPermutation(const IndexView &perm, std::string &error) {
  const std::vector<int64_t> &s = perm.shape;
  int64_t rows = s[0] * s[1], n = s[2];
  std::vector<int64_t> seenIn(n, -1);
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t t = 0; t < n; ++t) {
      int64_t p = perm.at(row * n + t);
      std::string where = "argument '" + perm.name + "'[" +
                          std::to_string(row / s[1]) + ", " +
                          std::to_string(row % s[1]) + ", " +
                          std::to_string(t) + "] is " + std::to_string(p);
      if (p < 0 || p >= n) {
        error = where + ", outside [0, " + std::to_string(n) +
                "); a permutation holds each position once";
        return false;
      }
      if (seenIn[p] == row) {
        error = where + ", a position already in its row; a permutation "
                        "holds each position once";
        return false;
      }
      seenIn[p] = row;
    }
  return true;
}

} // namespace attnir
