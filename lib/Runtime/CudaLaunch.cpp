//===- CudaLaunch.cpp - recorded kernel launches, replayed as CUDA graphs -===//

#include "CudaLaunch.h"
#include <cstdlib>
#include <cstring>

namespace attnir::cuda {

std::vector<void *> Launch::params() {
  std::vector<void *> out;
  for (int64_t &w : words)
    out.push_back(&w);
  for (TensorMap &m : maps)
    out.push_back(&m);
  return out;
}

bool Launch::run(const Driver &d, CUstream stream, std::string &error) {
  std::vector<void *> p = params();
  return check(d.cuLaunchKernel(fn, grid[0], grid[1], grid[2], threads, 1, 1, sharedBytes, stream,
                                p.data(), nullptr),
               what.c_str(), error);
}

namespace {

bool graphsEnabled(const Driver &d) {
  static const bool off = [] {
    const char *v = std::getenv("ATTNIR_CUDA_GRAPHS");
    return v && std::strcmp(v, "0") == 0;
  }();
  return !off && d.cuGraphCreate && d.cuGraphAddKernelNode && d.cuGraphInstantiate &&
         d.cuGraphLaunch && d.cuGraphExecDestroy && d.cuGraphDestroy && d.cuStreamIsCapturing;
}

/// A stream that is not being captured (a caller's torch.cuda.graph
/// records our launches themselves; a query that fails, e.g. the legacy
/// stream while another stream captures, counts as capturing).
bool notCapturing(const Driver &d, CUstream stream) {
  int status = -1; // CU_STREAM_CAPTURE_STATUS_NONE = 0
  return d.cuStreamIsCapturing(stream, &status) == 0 && status == 0;
}

/// Every byte that decides what the launches do.
std::vector<uint64_t> signatureOf(const std::vector<Launch> &launches) {
  std::vector<uint64_t> s;
  for (const Launch &l : launches) {
    s.push_back(reinterpret_cast<uintptr_t>(l.fn));
    s.push_back((uint64_t(l.grid[0]) << 32) | l.grid[1]);
    s.push_back((uint64_t(l.grid[2]) << 32) | l.threads);
    s.push_back((uint64_t(l.sharedBytes) << 32) | l.words.size());
    s.push_back(l.maps.size());
    for (int64_t w : l.words)
      s.push_back(static_cast<uint64_t>(w));
    for (const TensorMap &m : l.maps)
      s.insert(s.end(), std::begin(m.words), std::end(m.words));
  }
  return s;
}

bool runEach(const Driver &d, std::vector<Launch> &launches, CUstream stream,
             std::string &error) {
  for (Launch &l : launches)
    if (!l.run(d, stream, error))
      return false;
  return true;
}

} // namespace

CUgraphExec GraphReplays::build(const Driver &d, std::vector<Launch> &launches) {
  CUgraph graph = nullptr;
  if (d.cuGraphCreate(&graph, 0) != 0)
    return nullptr;
  CUgraphNode previous = nullptr;
  bool ok = true;
  for (Launch &l : launches) {
    std::vector<void *> p = l.params(); // the node copies the values
    KernelNodeParams np{l.fn,      l.grid[0], l.grid[1],     l.grid[2], l.threads, 1, 1,
                        l.sharedBytes, p.data(), nullptr, nullptr, nullptr};
    CUgraphNode node = nullptr;
    if (d.cuGraphAddKernelNode(&node, graph, previous ? &previous : nullptr, previous ? 1 : 0,
                               &np) != 0) {
      ok = false;
      break;
    }
    previous = node;
  }
  CUgraphExec exec = nullptr;
  if (ok && d.cuGraphInstantiate(&exec, graph, 0) != 0)
    exec = nullptr;
  d.cuGraphDestroy(graph);
  return exec;
}

bool GraphReplays::submit(const Driver &d, const Key &key, std::vector<Launch> &launches,
                          CUstream stream, std::string &error) {
  if (launches.size() < 2 || !graphsEnabled(d) || !notCapturing(d, stream))
    return runEach(d, launches, stream, error);
  std::vector<uint64_t> signature = signatureOf(launches);
  std::lock_guard<std::mutex> lock(mu);
  driver = &d;
  Replay &r = replays[key];
  if (r.exec && r.signature == signature)
    return check(d.cuGraphLaunch(r.exec, stream), "launching the program's CUDA graph", error);
  // A graph only for launches that repeat: a call whose arguments move
  // (new buffers each time) keeps launching directly.
  bool repeated = r.signature == signature;
  if (r.exec)
    d.cuGraphExecDestroy(r.exec);
  r.exec = nullptr;
  r.signature = std::move(signature);
  if (repeated)
    r.exec = build(d, launches);
  if (!r.exec)
    return runEach(d, launches, stream, error);
  if (check(d.cuGraphLaunch(r.exec, stream), "launching the program's CUDA graph", error))
    return true;
  d.cuGraphExecDestroy(r.exec);
  r = {};
  return false;
}

GraphReplays::~GraphReplays() {
  for (auto &[key, r] : replays)
    if (r.exec && driver)
      driver->cuGraphExecDestroy(r.exec); // errors at exit (context gone) ignored
}

} // namespace attnir::cuda
