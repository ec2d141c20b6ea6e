//===- SpecLoader.cpp - parse and verify a spec ---------------------------===//

#include "attnir/Driver/SpecLoader.h"
#include "attnir/Dialect/Attn/Transforms/Passes.h"
#include "attnir/Pipelines/Pipelines.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include <cctype>

using namespace mlir;

namespace attnir {

std::unique_ptr<MLIRContext> createContext() {
  DialectRegistry registry;
  attn::registerCompilerDialects(registry);
  auto ctx = std::make_unique<MLIRContext>(registry);
  ctx->loadAllAvailableDialects();
  // One line per diagnostic: the location says where, no IR dump.
  ctx->printOpOnDiagnostic(false);
  return ctx;
}

/// The `%name`s between the parentheses following the function's location
/// (the `func.func` keyword) in the source buffer.
static std::vector<std::string> argNames(func::FuncOp fn,
                                         llvm::SourceMgr &sm) {
  std::vector<std::string> names;
  auto loc = dyn_cast<FileLineColLoc>(fn.getLoc());
  if (!loc || sm.getNumBuffers() == 0)
    return names;
  const llvm::MemoryBuffer *buf = sm.getMemoryBuffer(sm.getMainFileID());
  StringRef text = buf->getBuffer();
  size_t pos = 0;
  for (unsigned line = 1; line < loc.getLine() && pos != StringRef::npos;
       ++line)
    pos = text.find('\n', pos) + 1;
  if (pos == StringRef::npos || pos >= text.size())
    return names;
  size_t open = text.find('(', pos);
  if (open == StringRef::npos)
    return names;
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    char c = text[i];
    if (c == '(' || c == '<' || c == '[' || c == '{')
      ++depth;
    else if (c == ')' || c == '>' || c == ']' || c == '}') {
      if (--depth == 0)
        break;
    } else if (c == '%' && depth == 1) {
      size_t j = i + 1;
      while (j < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[j])) ||
              text[j] == '_' || text[j] == '$' || text[j] == '.' ||
              text[j] == '-'))
        ++j;
      names.push_back(text.substr(i + 1, j - i - 1).str());
      i = j - 1;
    }
  }
  return names;
}

std::string formatDiagnostic(Diagnostic &diag) {
  std::string where;
  if (auto loc = diag.getLocation()->findInstanceOf<FileLineColLoc>())
    where = (loc.getFilename().str() + ":" + std::to_string(loc.getLine()) +
             ":" + std::to_string(loc.getColumn()) + ": ");
  const char *kind = diag.getSeverity() == DiagnosticSeverity::Error ? "error"
                     : diag.getSeverity() == DiagnosticSeverity::Warning
                         ? "warning"
                         : "note";
  return where + kind + ": " + diag.str();
}

namespace {
/// Upstream's pretty parser of linalg.broadcast and linalg.transpose
/// dereferences a null attribute when `dimensions =` / `permutation =` is
/// not followed by a list (fuzz-spec seed linalg-broadcast-dimensions):
/// refuse such text before it reaches that parser. Comments are skipped.
LogicalResult checkUpstreamParserHazards(llvm::SourceMgr &sourceMgr,
                                         MLIRContext *ctx) {
  const llvm::MemoryBuffer *buf = sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  StringRef text = buf->getBuffer();
  unsigned line = 1;
  for (StringRef rest = text; !rest.empty();) {
    auto [full, tail] = rest.split('\n');
    StringRef code = full.split("//").first;
    for (StringRef key : {"dimensions", "permutation"}) {
      for (size_t at = code.find(key); at != StringRef::npos;
           at = code.find(key, at + 1)) {
        StringRef after = code.drop_front(at + key.size()).ltrim();
        if (!after.consume_front("="))
          continue;
        // A whole list of integers on this line: [ ], [3], [0, 2].
        after = after.ltrim();
        if (after.consume_front("[")) {
          StringRef list = after.take_until([](char c) { return c == ']'; });
          bool ints = list.size() < after.size();
          if (ints && !list.trim().empty()) {
            SmallVector<StringRef> items;
            list.split(items, ',');
            for (StringRef item : items) {
              int64_t v;
              ints &= !item.trim().getAsInteger(10, v);
            }
          }
          if (ints)
            continue;
        }
        return emitError(FileLineColLoc::get(
                   ctx, buf->getBufferIdentifier(), line,
                   static_cast<unsigned>(at + 1)))
               << "'" << key
               << " =' must be followed by a list of integers [d0, d1, ...] "
                  "on the same line";
      }
    }
    rest = tail;
    ++line;
  }
  return success();
}
} // namespace

OwningOpRef<ModuleOp> parseSpec(llvm::SourceMgr &sourceMgr, MLIRContext *ctx) {
  if (failed(checkUpstreamParserHazards(sourceMgr, ctx)))
    return nullptr;
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, ctx);
  if (!module)
    return nullptr;
  if (failed(verify(*module)) || failed(attn::verifySpec(*module)))
    return nullptr;
  Builder b(ctx);
  for (auto fn : module->getOps<func::FuncOp>()) {
    if (fn.isExternal())
      continue;
    std::vector<std::string> names = argNames(fn, sourceMgr);
    // Names the reader cannot take apart (none is empty in valid MLIR)
    // leave the defaults (arg0, arg1, ...): bundles store names as words.
    if (names.size() != fn.getNumArguments() ||
        llvm::any_of(names, [](const std::string &n) { return n.empty(); }))
      continue;
    SmallVector<Attribute> attrs;
    for (const std::string &n : names)
      attrs.push_back(b.getStringAttr(n));
    fn->setAttr("attn.arg_names", b.getArrayAttr(attrs));
  }
  return module;
}

} // namespace attnir
