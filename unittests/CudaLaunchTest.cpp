//===- CudaLaunchTest.cpp - programs' launches replayed as CUDA graphs ----===//
//
// GraphReplays (lib/Runtime/CudaLaunch.h) against a fake driver that
// records its calls: no GPU needed, so CI checks when a program's call
// launches directly, builds a graph, replays it or drops it.
//
//===----------------------------------------------------------------------===//

#include "../lib/Runtime/CudaLaunch.h"
#include <gtest/gtest.h>

using namespace attnir::cuda;

namespace {

struct Calls {
  int launches = 0, creates = 0, nodes = 0, instantiates = 0, graphLaunches = 0,
      execDestroys = 0, graphDestroys = 0;
  bool failInstantiate = false;
  int captureStatus = 0; // CU_STREAM_CAPTURE_STATUS_NONE
  /// Per node: its dependency count and its first parameter word.
  std::vector<std::pair<size_t, int64_t>> nodeInfo;
  std::vector<int64_t> launchedFirstWords;
};
Calls calls;

CUresult fakeLaunch(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                    unsigned, CUstream, void **params, void **) {
  ++calls.launches;
  calls.launchedFirstWords.push_back(*static_cast<int64_t *>(params[0]));
  return 0;
}
CUresult fakeCreate(CUgraph *g, unsigned) {
  ++calls.creates;
  *g = reinterpret_cast<CUgraph>(0x1000);
  return 0;
}
CUresult fakeAddNode(CUgraphNode *node, CUgraph, const CUgraphNode *, size_t deps,
                     const KernelNodeParams *p) {
  ++calls.nodes;
  calls.nodeInfo.push_back({deps, *static_cast<int64_t *>(p->kernelParams[0])});
  *node = reinterpret_cast<CUgraphNode>(0x2000 + calls.nodes);
  return 0;
}
CUresult fakeInstantiate(CUgraphExec *e, CUgraph, unsigned long long) {
  ++calls.instantiates;
  if (calls.failInstantiate)
    return 1;
  *e = reinterpret_cast<CUgraphExec>(0x3000 + calls.instantiates);
  return 0;
}
CUresult fakeGraphLaunch(CUgraphExec, CUstream) {
  ++calls.graphLaunches;
  return 0;
}
CUresult fakeExecDestroy(CUgraphExec) {
  ++calls.execDestroys;
  return 0;
}
CUresult fakeGraphDestroy(CUgraph) {
  ++calls.graphDestroys;
  return 0;
}

CUresult fakeIsCapturing(CUstream, int *status) {
  *status = calls.captureStatus;
  return 0;
}

Driver fakeDriver(bool graphs = true) {
  Driver d{};
  d.cuLaunchKernel = fakeLaunch;
  if (graphs) {
    d.cuGraphCreate = fakeCreate;
    d.cuGraphAddKernelNode = fakeAddNode;
    d.cuGraphInstantiate = fakeInstantiate;
    d.cuGraphLaunch = fakeGraphLaunch;
    d.cuGraphExecDestroy = fakeExecDestroy;
    d.cuGraphDestroy = fakeGraphDestroy;
    d.cuStreamIsCapturing = fakeIsCapturing;
  }
  return d;
}

std::vector<Launch> program(int64_t firstWord, int kernels = 2) {
  std::vector<Launch> ls(kernels);
  for (int i = 0; i < kernels; ++i) {
    ls[i].fn = reinterpret_cast<CUfunction>(0x100 + i);
    ls[i].grid[0] = 7 + i;
    ls[i].words = {firstWord + i, 42};
    ls[i].what = "launching k" + std::to_string(i);
  }
  return ls;
}

const GraphReplays::Key key{nullptr, nullptr, 0};

/// program(100) twice: the second call replays it as a graph.
void submitTwice(const Driver &d, GraphReplays &replays) {
  std::string error;
  for (int i = 0; i < 2; ++i) {
    auto a = program(100);
    ASSERT_TRUE(replays.submit(d, key, a, nullptr, error)) << error;
  }
  ASSERT_EQ(calls.graphLaunches, 1);
}

/// Each test's fresh fake driver (its call counts zeroed), replay cache
/// and error text.
class CudaGraphs : public ::testing::Test {
protected:
  void SetUp() override { calls = {}; }
  Driver d = fakeDriver();
  GraphReplays replays;
  std::string error;
};

} // namespace

TEST_F(CudaGraphs, RepeatedLaunchesReplayOneGraph) {
  auto a = program(100);
  ASSERT_TRUE(replays.submit(d, key, a, nullptr, error)) << error;
  EXPECT_EQ(calls.launches, 2); // first call: no graph yet
  EXPECT_EQ(calls.creates, 0);
  auto b = program(100);
  ASSERT_TRUE(replays.submit(d, key, b, nullptr, error)) << error;
  EXPECT_EQ(calls.launches, 2); // the repeat builds the graph and launches it
  EXPECT_EQ(calls.creates, 1);
  EXPECT_EQ(calls.nodes, 2);
  EXPECT_EQ(calls.instantiates, 1);
  EXPECT_EQ(calls.graphDestroys, 1); // the graph goes once instantiated
  EXPECT_EQ(calls.graphLaunches, 1);
  // A chain in launch order, each node with its own parameters.
  ASSERT_EQ(calls.nodeInfo.size(), 2u);
  EXPECT_EQ(calls.nodeInfo[0], (std::pair<size_t, int64_t>{0, 100}));
  EXPECT_EQ(calls.nodeInfo[1], (std::pair<size_t, int64_t>{1, 101}));
  for (int i = 0; i < 3; ++i) {
    auto c = program(100);
    ASSERT_TRUE(replays.submit(d, key, c, nullptr, error)) << error;
  }
  EXPECT_EQ(calls.graphLaunches, 4); // replays, no rebuild
  EXPECT_EQ(calls.instantiates, 1);
  EXPECT_EQ(calls.launches, 2);
}

TEST_F(CudaGraphs, ChangedLaunchesGoDirectAndDropTheGraph) {
  submitTwice(d, replays); // the second call built and launched a graph
  // One word of one launch differs (another buffer): direct launches.
  auto moved = program(100);
  moved[1].words[1] = 43;
  ASSERT_TRUE(replays.submit(d, key, moved, nullptr, error)) << error;
  EXPECT_EQ(calls.graphLaunches, 1);
  EXPECT_EQ(calls.launches, 4);
  EXPECT_EQ(calls.execDestroys, 1);
  // Alternating buffers never build a graph.
  for (int i = 0; i < 4; ++i) {
    auto x = program(200 + (i % 2));
    ASSERT_TRUE(replays.submit(d, key, x, nullptr, error)) << error;
  }
  EXPECT_EQ(calls.instantiates, 1);
  EXPECT_EQ(calls.launches, 12);
  EXPECT_EQ((std::vector<int64_t>(calls.launchedFirstWords.end() - 2,
                                  calls.launchedFirstWords.end())),
            (std::vector<int64_t>{201, 202}));
  // Other grids, shared bytes or tensor maps are other launches too.
  auto g1 = program(300), g2 = program(300);
  g2[0].sharedBytes = 1024;
  ASSERT_TRUE(replays.submit(d, key, g1, nullptr, error));
  ASSERT_TRUE(replays.submit(d, key, g2, nullptr, error));
  EXPECT_EQ(calls.instantiates, 1);
  auto m1 = program(400), m2 = program(400);
  m1[0].maps.resize(1);
  m2[0].maps.resize(1);
  m2[0].maps[0].words[5] = 9;
  ASSERT_TRUE(replays.submit(d, key, m1, nullptr, error));
  ASSERT_TRUE(replays.submit(d, key, m2, nullptr, error));
  EXPECT_EQ(calls.instantiates, 1);
}

TEST_F(CudaGraphs, SingleKernelsAndOldDriversLaunchDirectly) {
  for (int i = 0; i < 3; ++i) {
    auto one = program(100, 1);
    ASSERT_TRUE(replays.submit(d, key, one, nullptr, error)) << error;
  }
  EXPECT_EQ(calls.launches, 3);
  EXPECT_EQ(calls.creates, 0);
  // A driver without the graph API, with a replay cache of its own.
  Driver old = fakeDriver(/*graphs=*/false);
  GraphReplays fresh;
  for (int i = 0; i < 3; ++i) {
    auto a = program(100);
    ASSERT_TRUE(fresh.submit(old, key, a, nullptr, error)) << error;
  }
  EXPECT_EQ(calls.launches, 9);
  EXPECT_EQ(calls.creates, 0);
}

TEST_F(CudaGraphs, KeysAreSeparateAndAFailedInstantiateLaunchesDirectly) {
  const GraphReplays::Key other{nullptr, reinterpret_cast<void *>(0x5), 0};
  auto a = program(100), b = program(100);
  ASSERT_TRUE(replays.submit(d, key, a, nullptr, error));
  ASSERT_TRUE(replays.submit(d, other, b, nullptr, error)); // another stream: its first call
  EXPECT_EQ(calls.creates, 0);
  EXPECT_EQ(calls.launches, 4);
  calls.failInstantiate = true;
  auto c = program(100);
  ASSERT_TRUE(replays.submit(d, key, c, nullptr, error)) << error;
  EXPECT_EQ(calls.instantiates, 1);
  EXPECT_EQ(calls.graphLaunches, 0);
  EXPECT_EQ(calls.launches, 6); // the same launches, one by one
}

TEST_F(CudaGraphs, ACapturedStreamGetsTheLaunchesThemselves) {
  // torch.cuda.graph around a call: the caller's capture records the
  // kernels; no graph of ours is built or launched into it.
  submitTwice(d, replays); // the second call built and launched a graph
  calls.captureStatus = 1; // CU_STREAM_CAPTURE_STATUS_ACTIVE
  for (int i = 0; i < 2; ++i) {
    auto a = program(100);
    ASSERT_TRUE(replays.submit(d, key, a, nullptr, error)) << error;
  }
  EXPECT_EQ(calls.graphLaunches, 1);
  EXPECT_EQ(calls.launches, 6);
  EXPECT_EQ(calls.instantiates, 1);
  calls.captureStatus = 0; // after the capture: replays again
  auto a = program(100);
  ASSERT_TRUE(replays.submit(d, key, a, nullptr, error)) << error;
  EXPECT_EQ(calls.graphLaunches, 2);
}
