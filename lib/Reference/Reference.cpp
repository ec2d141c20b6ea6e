//===- Reference.cpp - float64 interpreter of attn programs ---------------===//

#include "attnir/Reference/Reference.h"
#include <mutex>

namespace attnir {

// One function per op kind, each in the file of its family.
bool referenceAttentionOp(const RefOp &op, std::map<int, HostTensor> &values,
                          ReferenceStats &stats, std::string &error);
bool referencePoolOp(const RefOp &op, std::map<int, HostTensor> &values,
                     ReferenceStats &stats, std::string &error);
bool referenceBlockScoresOp(const RefOp &op, std::map<int, HostTensor> &values,
                            ReferenceStats &stats, std::string &error);
bool referenceIndexScoresOp(const RefOp &op, std::map<int, HostTensor> &values,
                            ReferenceStats &stats, std::string &error);
bool referenceProbsOp(const RefOp &op, std::map<int, HostTensor> &values,
                      ReferenceStats &stats, std::string &error);
bool referenceProjectOp(const RefOp &op, std::map<int, HostTensor> &values,
                        ReferenceStats &stats, std::string &error);
bool referenceSelectOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &stats, std::string &error);
bool referenceElementwiseOp(const RefOp &op, std::map<int, HostTensor> &values,
                            ReferenceStats &stats, std::string &error);
bool referenceBroadcastOp(const RefOp &op, std::map<int, HostTensor> &values,
                          ReferenceStats &stats, std::string &error);
bool referenceMergeOp(const RefOp &op, std::map<int, HostTensor> &values,
                      ReferenceStats &stats, std::string &error);
bool referenceLinearOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &stats, std::string &error);
bool referenceRuleBlocksOp(const RefOp &op, std::map<int, HostTensor> &values,
                           ReferenceStats &stats, std::string &error);
bool referenceRouteOp(const RefOp &op, std::map<int, HostTensor> &values,
                      ReferenceStats &stats, std::string &error);
bool referencePermuteOp(const RefOp &op, std::map<int, HostTensor> &values,
                        ReferenceStats &stats, std::string &error);
bool referenceSampleOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &stats, std::string &error);
bool referenceGatherOp(const RefOp &op, std::map<int, HostTensor> &values,
                       ReferenceStats &stats, std::string &error);
bool referenceLandmarkOp(const RefOp &op, std::map<int, HostTensor> &values,
                         ReferenceStats &stats, std::string &error);
bool referenceSplitHeadsOp(const RefOp &op, std::map<int, HostTensor> &values,
                           ReferenceStats &stats, std::string &error);
bool referenceJoinHeadsOp(const RefOp &op, std::map<int, HostTensor> &values,
                          ReferenceStats &stats, std::string &error);
bool referenceScanOp(const RefOp &op, std::map<int, HostTensor> &values,
                     ReferenceStats &stats, std::string &error);

namespace {
struct OpRegistry {
  std::mutex lock;
  std::map<std::string, ReferenceOpFn> ops{
      {"attention", referenceAttentionOp},
      {"pool", referencePoolOp},
      {"block_scores", referenceBlockScoresOp},
      {"index_scores", referenceIndexScoresOp},
      {"probs", referenceProbsOp},
      {"project", referenceProjectOp},
      {"select", referenceSelectOp},
      {"elementwise", referenceElementwiseOp},
      {"broadcast", referenceBroadcastOp},
      {"merge", referenceMergeOp},
      {"linear", referenceLinearOp},
      {"rule_blocks", referenceRuleBlocksOp},
      {"route", referenceRouteOp},
      {"permute", referencePermuteOp},
      {"sample", referenceSampleOp},
      {"gather", referenceGatherOp},
      {"split_heads", referenceSplitHeadsOp},
      {"join_heads", referenceJoinHeadsOp},
      {"landmark", referenceLandmarkOp},
      {"scan", referenceScanOp}};
};

OpRegistry &opRegistry() {
  static OpRegistry r;
  return r;
}

/// `t` in F64 (returned arguments are widened exactly).
HostTensor widened(const HostTensor &t) {
  if (t.dtype == DType::F64)
    return t;
  HostTensor w = HostTensor::zeros(DType::F64, t.shape);
  for (int64_t i = 0; i < t.numElements(); ++i)
    w.set(i, t.get(i));
  return w;
}
} // namespace

const HostTensor *operandValue(const RefOp &op,
                               const std::map<int, HostTensor> &values,
                               const std::string &role) {
  auto it = values.find(op.operand(role));
  return it == values.end() ? nullptr : &it->second;
}

void registerReferenceOp(const std::string &kind, ReferenceOpFn fn) {
  OpRegistry &r = opRegistry();
  std::lock_guard<std::mutex> g(r.lock);
  r.ops[kind] = std::move(fn);
}

bool evaluateProgram(const RefProgram &program,
                     const std::vector<HostTensor> &args,
                     std::vector<HostTensor> &results, std::string &error,
                     ReferenceStats *stats) {
  if (args.size() != static_cast<size_t>(program.numArgs)) {
    error = "reference: the entry takes " + std::to_string(program.numArgs) +
            " arguments, got " + std::to_string(args.size());
    return false;
  }
  std::map<int, HostTensor> values;
  for (size_t i = 0; i < args.size(); ++i)
    values[static_cast<int>(i)] = args[i];
  ReferenceStats local;
  for (const RefOp &op : program.ops) {
    ReferenceOpFn fn;
    {
      OpRegistry &r = opRegistry();
      std::lock_guard<std::mutex> g(r.lock);
      auto it = r.ops.find(op.kind);
      if (it == r.ops.end()) {
        error = "reference: unsupported op '" + op.kind + "'";
        return false;
      }
      fn = it->second;
    }
    if (!fn(op, values, local, error))
      return false;
  }
  results.clear();
  for (int id : program.returns) {
    auto it = values.find(id);
    if (it == values.end()) {
      error = "reference: the entry returns %" + std::to_string(id) +
              ", which no op computed";
      return false;
    }
    results.push_back(widened(it->second));
  }
  if (stats)
    *stats = local;
  return true;
}

} // namespace attnir
