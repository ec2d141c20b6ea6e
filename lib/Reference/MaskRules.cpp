//===- MaskRules.cpp - element rules from mask trees ----------------------===//

#include "attnir/Reference/MaskRules.h"
#include <algorithm>
#include <map>
#include <mutex>

namespace attnir {
namespace {

/// The verifiers' bound on every mask parameter (2^40).
constexpr int64_t kMaxParam = int64_t(1) << 40;
constexpr size_t kMaxChildren = 1 << 16;

/// Checks the shape of `mask`: `np` parameters, each in [lo[k], 2^40], and
/// a child count in [minChildren, maxChildren].
bool checkShape(const RefMask &mask, std::vector<int64_t> lo,
                size_t minChildren, size_t maxChildren, std::string &error) {
  if (mask.params.size() != lo.size() ||
      mask.children.size() < minChildren ||
      mask.children.size() > maxChildren) {
    error = "mask '" + printMask(mask) + "' has the wrong number of " +
            (mask.params.size() != lo.size() ? "parameters" : "children");
    return false;
  }
  for (size_t k = 0; k < lo.size(); ++k)
    if (mask.params[k] < lo[k] || mask.params[k] > kMaxParam) {
      error = "mask '" + printMask(mask) + "': parameter " +
              std::to_string(k) + " must be in [" + std::to_string(lo[k]) +
              ", 2^40]";
      return false;
    }
  return true;
}

/// A leaf mask with parameters `lo.size()`; `rule(params)` gives its rule.
MaskRuleFactory leaf(std::vector<int64_t> lo,
                     std::function<ElementRule(const std::vector<int64_t> &)>
                         rule) {
  return [lo, rule](const RefMask &mask, std::vector<ElementRule>,
                    ElementRule &out, std::string &error) {
    if (!checkShape(mask, lo, 0, 0, error))
      return false;
    out = rule(mask.params);
    return true;
  };
}

MaskRuleFactory combinator(size_t minChildren, size_t maxChildren,
                           bool all, bool negate) {
  return [=](const RefMask &mask, std::vector<ElementRule> kids,
             ElementRule &out, std::string &error) {
    if (!checkShape(mask, {}, minChildren, maxChildren, error))
      return false;
    if (negate) {
      out = [kid = kids[0]](const RuleSite &s, int64_t i, int64_t j) {
        return !kid(s, i, j);
      };
      return true;
    }
    out = [kids, all](const RuleSite &s, int64_t i, int64_t j) {
      for (const ElementRule &k : kids)
        if (k(s, i, j) != all)
          return !all;
      return all;
    };
    return true;
  };
}

std::map<std::string, MaskRuleFactory> builtinRules() {
  using P = const std::vector<int64_t> &;
  using S = const RuleSite &;
  std::map<std::string, MaskRuleFactory> r;
  r["causal"] = leaf({}, [](P) {
    return [](S s, int64_t i, int64_t j) {
      return rules::causal(i, j, s.n, s.m);
    };
  });
  r["window"] = leaf({0, 0}, [](P p) {
    return [l = p[0], rt = p[1]](S s, int64_t i, int64_t j) {
      return rules::window(l, rt, i, j, s.n, s.m);
    };
  });
  r["sink"] = leaf({0}, [](P p) {
    return [n = p[0]](S, int64_t, int64_t j) { return rules::sink(n, j); };
  });
  r["global"] = leaf({0}, [](P p) {
    return [n = p[0]](S, int64_t i, int64_t j) {
      return rules::global(n, i, j);
    };
  });
  r["prefix"] = leaf({0}, [](P p) {
    return [n = p[0]](S s, int64_t i, int64_t j) {
      return rules::prefix(n, i, j, s.n, s.m);
    };
  });
  r["chunked"] = leaf({1}, [](P p) {
    return [c = p[0]](S, int64_t i, int64_t j) {
      return rules::chunked(c, i, j);
    };
  });
  r["balanced"] = leaf({1}, [](P p) {
    return [c = p[0]](S s, int64_t i, int64_t j) {
      return rules::balanced(c, i, j, s.m);
    };
  });
  r["compressed"] = leaf({1, 1}, [](P p) {
    return [c = p[0], sp = p[1]](S, int64_t i, int64_t j) {
      return rules::compressed(c, sp, i, j);
    };
  });
  MaskRuleFactory keyPart = leaf({0, 1}, [](P p) {
    return [part = p[0], parts = p[1]](S s, int64_t, int64_t j) {
      return rules::keyPart(part, parts, j, s.m);
    };
  });
  r["key_part"] = [keyPart](const RefMask &mask, std::vector<ElementRule> kids,
                            ElementRule &out, std::string &error) {
    if (!keyPart(mask, kids, out, error))
      return false;
    if (mask.params[1] > 1024 || mask.params[0] >= mask.params[1]) {
      error = "mask '" + printMask(mask) + "': needs 0 <= p < P <= 1024";
      return false;
    }
    return true;
  };
  MaskRuleFactory dilated = leaf({1, 0}, [](P p) {
    return [sp = p[0], w = p[1]](S s, int64_t i, int64_t j) {
      return rules::dilated(sp, w, i, j, s.n, s.m);
    };
  });
  r["dilated"] = [dilated](const RefMask &mask, std::vector<ElementRule> kids,
                           ElementRule &out, std::string &error) {
    if (!dilated(mask, kids, out, error))
      return false;
    // The reach s * w is bounded too (each factor alone would allow 2^80).
    if (mask.params[0] > kMaxParam / std::max<int64_t>(1, mask.params[1])) {
      error = "mask '" + printMask(mask) + "': reach s * w exceeds 2^40";
      return false;
    }
    return true;
  };
  r["segments"] = leaf({}, [](P) {
    return [](S s, int64_t i, int64_t j) { return rules::segments(s, i, j); };
  });
  r["rule"] = leaf({}, [](P) {
    return [](S s, int64_t i, int64_t j) {
      return !s.region || s.region(s, i, j);
    };
  });
  r["all_of"] = combinator(1, kMaxChildren, /*all=*/true, /*negate=*/false);
  r["any_of"] = combinator(1, kMaxChildren, /*all=*/false, /*negate=*/false);
  r["not"] = combinator(1, 1, false, /*negate=*/true);
  return r;
}

struct Registry {
  std::mutex lock;
  std::map<std::string, MaskRuleFactory> rules = builtinRules();
};

Registry &registry() {
  static Registry r;
  return r;
}
} // namespace

void registerMaskRule(const std::string &kind, MaskRuleFactory factory) {
  Registry &r = registry();
  std::lock_guard<std::mutex> g(r.lock);
  r.rules[kind] = std::move(factory);
}

bool makeElementRule(const RefMask &mask, ElementRule &out,
                     std::string &error) {
  std::vector<ElementRule> kids(mask.children.size());
  for (size_t c = 0; c < kids.size(); ++c)
    if (!makeElementRule(mask.children[c], kids[c], error))
      return false;
  MaskRuleFactory factory;
  {
    Registry &r = registry();
    std::lock_guard<std::mutex> g(r.lock);
    auto it = r.rules.find(mask.kind);
    if (it == r.rules.end()) {
      error = "no element rule for mask kind '" + mask.kind + "'";
      return false;
    }
    factory = it->second;
  }
  return factory(mask, std::move(kids), out, error);
}

} // namespace attnir
