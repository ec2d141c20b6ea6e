//===- attnir_ext.cpp - the attnir._attnir extension ----------------------===//
//
// A thin nanobind layer over the C API (include/attnir-c/attnir.h) and
// nothing else: the Python package (python/attnir/) does the array handling,
// the cache and the friendly errors. Tensors cross this boundary as tuples
// (data_ptr, dtype, shape, strides-or-None) so that this file needs neither
// numpy nor DLPack.
//
// Errors: compile and load failures raise CompileFailure / LoadFailure
// (RuntimeError subclasses the Python side turns into attnir.CompileError /
// attnir.LoadError); argument errors raise TypeError when the C API's message
// is about a dtype, ValueError otherwise.
//
//===----------------------------------------------------------------------===//

#include "attnir-c/attnir.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace {

struct CompileFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct LoadFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string lastError(const char *fallback) {
  const char *e = attnir_last_error();
  return (e && *e) ? std::string(e) : std::string(fallback);
}

bool isDTypeMessage(const std::string &msg) {
  if (msg.find("dtype") != std::string::npos)
    return true;
  for (const char *t : {"must be f32", "must be bf16", "must be f16",
                        "must be f64"})
    if (msg.find(t) != std::string::npos)
      return true;
  return false;
}

[[noreturn]] void raiseArgumentError(const char *fallback) {
  std::string msg = lastError(fallback);
  if (isDTypeMessage(msg))
    throw nb::type_error(msg.c_str());
  throw nb::value_error(msg.c_str());
}

struct Kernel {
  attnir_kernel_t *k;
  explicit Kernel(attnir_kernel_t *k) : k(k) {}
  ~Kernel() { attnir_kernel_free(k); }
  Kernel(const Kernel &) = delete;
  Kernel &operator=(const Kernel &) = delete;
};

// An entry given as its index or its name.
int32_t entryIndex(const Kernel &self, nb::handle entry) {
  int32_t n = attnir_num_entries(self.k);
  if (PyLong_Check(entry.ptr())) {
    long i = PyLong_AsLong(entry.ptr());
    if (i < 0 || i >= n)
      throw nb::value_error(("entry index " + std::to_string(i) +
                             " out of range (the kernel has " +
                             std::to_string(n) + " entries)")
                                .c_str());
    return (int32_t)i;
  }
  if (PyUnicode_Check(entry.ptr())) {
    const char *name = PyUnicode_AsUTF8(entry.ptr());
    if (!name)
      throw nb::python_error();
    int32_t i = attnir_entry_index(self.k, name);
    if (i < 0)
      throw nb::value_error(
          (std::string("no entry named '") + name + "'").c_str());
    return i;
  }
  throw nb::type_error("entry must be an int or a str");
}

// numpy.ndarray's public object layout (numpy/ndarraytypes.h,
// PyArrayObject_fields: unchanged from numpy 1.7 to 2.x). Read only for
// objects whose type is the registered numpy.ndarray.
struct NumpyArrayFields {
  PyObject_HEAD char *data;
  int nd;
  Py_ssize_t *dimensions;
  Py_ssize_t *strides;
  PyObject *base;
  PyObject *descr;
  int flags;
};
constexpr int kNpyCContiguous = 0x0001;
PyTypeObject *ndarrayType = nullptr;

int64_t dtypeSize(long code) {
  switch (code) {
  case ATTNIR_F32:
    return 4;
  case ATTNIR_BF16:
  case ATTNIR_F16:
    return 2;
  case ATTNIR_F64:
  case ATTNIR_I64:
    return 8;
  case ATTNIR_I32:
    return 4;
  }
  return 0;
}

// Tensors converted from Python tuples, each either
//   (data_ptr: int, dtype: int, shape: tuple, strides: tuple | None)  or
//   (array: numpy.ndarray, dtype: int)  (shape and strides read from it).
// Shapes and strides live in `dims`, whose pointers are taken only once it
// is complete (or point into the numpy array, alive for the call).
struct TensorList {
  std::vector<attnir_tensor_t> t;
  std::vector<int64_t> dims;

  [[noreturn]] static void bad(const char *what, Py_ssize_t i,
                               const char *msg) {
    throw nb::type_error(
        (std::string(what) + " " + std::to_string(i) + ": " + msg).c_str());
  }

  void parse(nb::handle seq, const char *what) {
    PyObject *fast = PySequence_Fast(seq.ptr(), "tensors must be a sequence");
    if (!fast)
      throw nb::python_error();
    nb::object owner = nb::steal(fast);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    t.resize(n);
    // Offsets into `dims` (-1: none, -2: pointer already set).
    std::vector<std::pair<ptrdiff_t, ptrdiff_t>> offs(n, {-1, -1});
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject *tup = items[i];
      attnir_tensor_t &x = t[i];
      if (!PyTuple_Check(tup))
        bad(what, i, "expected a tuple");
      Py_ssize_t len = PyTuple_GET_SIZE(tup);
      if (len == 2) {
        PyObject *arr = PyTuple_GET_ITEM(tup, 0);
        if (!ndarrayType || !PyObject_TypeCheck(arr, ndarrayType))
          bad(what, i, "(array, dtype) needs a numpy.ndarray");
        long dt = PyLong_AsLong(PyTuple_GET_ITEM(tup, 1));
        if (PyErr_Occurred())
          throw nb::python_error();
        int64_t es = dtypeSize(dt);
        if (!es)
          bad(what, i, "unknown dtype code");
        auto *a = reinterpret_cast<NumpyArrayFields *>(arr);
        x.data = a->data;
        x.dtype = (attnir_dtype_t)dt;
        x.rank = a->nd;
        static_assert(sizeof(Py_ssize_t) == sizeof(int64_t), "64-bit only");
        x.shape = reinterpret_cast<const int64_t *>(a->dimensions);
        x.strides = nullptr;
        offs[i] = {-2, -2};
        if (!(a->flags & kNpyCContiguous)) {
          offs[i].second = (ptrdiff_t)dims.size();
          for (int d = 0; d < a->nd; ++d) {
            if (a->strides[d] % es)
              bad(what, i, "strides are not a multiple of the element size");
            dims.push_back(a->strides[d] / es);
          }
        }
        continue;
      }
      if (len != 4)
        bad(what, i, "expected (data_ptr, dtype, shape, strides)");
      x.data = PyLong_AsVoidPtr(PyTuple_GET_ITEM(tup, 0));
      long dt = PyLong_AsLong(PyTuple_GET_ITEM(tup, 1));
      if (PyErr_Occurred())
        throw nb::python_error();
      x.dtype = (attnir_dtype_t)dt;
      PyObject *shape = PyTuple_GET_ITEM(tup, 2);
      PyObject *strides = PyTuple_GET_ITEM(tup, 3);
      if (!PyTuple_Check(shape) ||
          (strides != Py_None && (!PyTuple_Check(strides) ||
                                  PyTuple_GET_SIZE(strides) !=
                                      PyTuple_GET_SIZE(shape))))
        bad(what, i, "shape must be a tuple and strides None or a tuple of "
                     "the same length");
      x.rank = (int32_t)PyTuple_GET_SIZE(shape);
      offs[i].first = (ptrdiff_t)dims.size();
      for (int32_t d = 0; d < x.rank; ++d)
        dims.push_back(PyLong_AsLongLong(PyTuple_GET_ITEM(shape, d)));
      if (strides != Py_None) {
        offs[i].second = (ptrdiff_t)dims.size();
        for (int32_t d = 0; d < x.rank; ++d)
          dims.push_back(PyLong_AsLongLong(PyTuple_GET_ITEM(strides, d)));
      }
      if (PyErr_Occurred())
        throw nb::python_error();
    }
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (offs[i].first >= 0)
        t[i].shape = dims.data() + offs[i].first;
      if (offs[i].second >= 0)
        t[i].strides = dims.data() + offs[i].second;
      else if (offs[i].second == -1)
        t[i].strides = nullptr;
    }
  }
};

const char *dtypeName(attnir_dtype_t d) {
  switch (d) {
  case ATTNIR_F32:
    return "f32";
  case ATTNIR_BF16:
    return "bf16";
  case ATTNIR_F16:
    return "f16";
  case ATTNIR_F64:
    return "f64";
  case ATTNIR_I32:
    return "i32";
  case ATTNIR_I64:
    return "i64";
  }
  return "unknown";
}

nb::list argList(const Kernel &self, int32_t entry, int isOutput) {
  nb::list out;
  int32_t n = attnir_num_args(self.k, entry, isOutput);
  if (n < 0)
    raiseArgumentError("cannot read the entry's arguments");
  for (int32_t i = 0; i < n; ++i) {
    const char *name = nullptr;
    attnir_dtype_t dtype = ATTNIR_F32;
    int32_t rank = 0;
    const int64_t *shape = nullptr;
    if (attnir_arg_info(self.k, entry, isOutput, i, &name, &dtype, &rank,
                        &shape) != 0)
      raiseArgumentError("cannot read an argument of the entry");
    nb::list dims;
    for (int32_t d = 0; d < rank; ++d)
      dims.append(shape[d]);
    out.append(nb::make_tuple(nb::str(name ? name : ""),
                              nb::str(dtypeName(dtype)), dims));
  }
  return out;
}

std::unique_ptr<Kernel> compileSpec(const std::string &spec,
                                    const std::string &target,
                                    nb::handle options) {
  std::string opts;
  bool haveOpts = !options.is_none();
  if (haveOpts)
    opts = nb::cast<std::string>(options);
  attnir_kernel_t *k;
  std::string err;
  {
    nb::gil_scoped_release release;
    k = attnir_compile(spec.data(), spec.size(), target.c_str(),
                       haveOpts ? opts.c_str() : nullptr);
    if (!k)
      err = lastError("compilation failed");
  }
  if (!k)
    throw CompileFailure(err);
  return std::make_unique<Kernel>(k);
}

std::unique_ptr<Kernel> loadKernel(const std::string &path) {
  attnir_kernel_t *k;
  std::string err;
  {
    nb::gil_scoped_release release;
    k = attnir_load(path.c_str());
    if (!k)
      err = lastError("cannot load the kernel");
  }
  if (!k)
    throw LoadFailure(err);
  return std::make_unique<Kernel>(k);
}

} // namespace

/// Reference results as a list of (bytes, shape); raises the C API's error
/// when `r` is null, and frees `r`.
nb::list resultsList(attnir_results_t *r) {
  if (!r)
    raiseArgumentError("reference failed");
  std::unique_ptr<attnir_results_t, void (*)(attnir_results_t *)> own(
      r, attnir_results_free);
  nb::list out;
  for (int32_t i = 0; i < attnir_results_count(r); ++i) {
    int32_t rank = attnir_results_rank(r, i);
    const int64_t *shape = attnir_results_shape(r, i);
    nb::list dims;
    int64_t n = 1;
    for (int32_t d = 0; d < rank; ++d) {
      dims.append(shape[d]);
      n *= shape[d];
    }
    nb::bytes data(reinterpret_cast<const char *>(attnir_results_data(r, i)),
                   static_cast<size_t>(n) * sizeof(double));
    out.append(nb::make_tuple(data, dims));
  }
  return out;
}

namespace {

/// Kernel.output_shapes: each output's shape for these inputs.
nb::list kernelOutputShapes(const Kernel &self, nb::handle entry, nb::handle inputs) {
  int32_t e = entryIndex(self, entry);
  TensorList in;
  in.parse(inputs, "input");
  int32_t nOut = attnir_num_args(self.k, e, 1);
  int32_t capacity = 0;
  std::vector<int32_t> ranks(nOut > 0 ? nOut : 0);
  for (int32_t i = 0; i < nOut; ++i) {
    const char *name;
    attnir_dtype_t dt;
    const int64_t *shape;
    if (attnir_arg_info(self.k, e, 1, i, &name, &dt, &ranks[i], &shape) != 0)
      raiseArgumentError("cannot read an output of the entry");
    capacity += ranks[i];
  }
  std::vector<int64_t> shapes(capacity > 0 ? capacity : 1);
  if (attnir_output_shapes(self.k, e, in.t.data(), (int32_t)in.t.size(), shapes.data(),
                           capacity) != 0)
    raiseArgumentError("invalid inputs");
  nb::list out;
  int32_t at = 0;
  for (int32_t i = 0; i < nOut; ++i) {
    PyObject *tup = PyTuple_New(ranks[i]);
    if (!tup)
      throw nb::python_error();
    for (int32_t d = 0; d < ranks[i]; ++d)
      PyTuple_SET_ITEM(tup, d, PyLong_FromLongLong(shapes[at++]));
    out.append(nb::steal(tup));
  }
  return out;
}

/// Kernel.run: the call with the GIL released; a dtype message raises
/// TypeError, any other ValueError.
void kernelRun(const Kernel &self, nb::handle entry, nb::handle inputs, nb::handle outputs,
               uintptr_t stream) {
  int32_t e = entryIndex(self, entry);
  TensorList in, out;
  in.parse(inputs, "input");
  out.parse(outputs, "output");
  int rc;
  std::string err;
  {
    nb::gil_scoped_release release;
    rc = attnir_run_on_stream(self.k, e, in.t.data(), (int32_t)in.t.size(), out.t.data(),
                              (int32_t)out.t.size(), reinterpret_cast<void *>(stream));
    if (rc != 0)
      err = lastError("the kernel call failed");
  }
  if (rc != 0) {
    if (isDTypeMessage(err))
      throw nb::type_error(err.c_str());
    throw nb::value_error(err.c_str());
  }
}

/// Kernel.save, the GIL released; OSError on failure.
void kernelSave(const Kernel &self, const std::string &path) {
  int rc;
  std::string err;
  {
    nb::gil_scoped_release release;
    rc = attnir_save(self.k, path.c_str());
    if (rc != 0)
      err = lastError("cannot save the kernel");
  }
  if (rc != 0) {
    PyErr_SetString(PyExc_OSError, err.c_str());
    throw nb::python_error();
  }
}

/// Kernel.ir: the IR kept at `stage`.
std::string kernelIR(Kernel &self, const std::string &stage) {
  const char *ir = attnir_ir(self.k, stage.c_str());
  if (!ir)
    throw nb::value_error(lastError(("no IR for stage '" + stage +
                                     "' (kernels loaded from a file and runtime-only "
                                     "builds keep none)")
                                        .c_str())
                              .c_str());
  return std::string(ir);
}

/// attnir.reference: float64 results of a spec's entry.
nb::list specReference(const std::string &spec, nb::handle entry, nb::handle inputs) {
  TensorList in;
  in.parse(inputs, "input");
  std::string e;
  if (!entry.is_none())
    e = nb::cast<std::string>(entry);
  attnir_results_t *r = attnir_reference(spec.data(), spec.size(),
                                         entry.is_none() ? nullptr : e.c_str(), in.t.data(),
                                         (int32_t)in.t.size());
  return resultsList(r);
}

/// The Kernel class: its entries, signatures, reference, shapes, calls,
/// threads, saving and IR.
void bindKernel(nb::module_ &m) {
  nb::class_<Kernel>(m, "Kernel")
      .def("entries",
           [](const Kernel &self) {
             nb::list out;
             int32_t n = attnir_num_entries(self.k);
             for (int32_t i = 0; i < n; ++i)
               out.append(nb::str(attnir_entry_name(self.k, i)));
             return out;
           })
      .def(
          "signature",
          [](const Kernel &self, nb::handle entry) {
            int32_t e = entryIndex(self, entry);
            return nb::make_tuple(argList(self, e, 0), argList(self, e, 1));
          },
          nb::arg("entry"),
          "(inputs, outputs), each a list of (name, dtype, static shape "
          "with -1 for dynamic dims).")
      .def(
          "reference",
          [](const Kernel &self, nb::handle entry, nb::handle inputs) {
            int32_t e = entryIndex(self, entry);
            TensorList in;
            in.parse(inputs, "input");
            return resultsList(attnir_kernel_reference(
                self.k, e, in.t.data(), (int32_t)in.t.size()));
          },
          nb::arg("entry"), nb::arg("inputs"),
          "float64 results of the entry from the op graph the kernel "
          "records (works in runtime-only builds): a list of (bytes, "
          "shape).")
      .def(
          "output_dim_source",
          [](const Kernel &self, int32_t entry, int32_t output, int32_t dim) {
            int64_t size = -1, divisor = 1;
            int32_t input = -1, inputDim = -1;
            if (attnir_output_dim_source(self.k, entry, output, dim, &size,
                                         &input, &inputDim, &divisor) != 0)
              raiseArgumentError("no source for that output dimension");
            return nb::make_tuple(size, input, inputDim, divisor);
          },
          nb::arg("entry"), nb::arg("output"), nb::arg("dim"))
      .def("output_shapes", &kernelOutputShapes, nb::arg("entry"), nb::arg("inputs"))
      .def("run", &kernelRun, nb::arg("entry"), nb::arg("inputs"), nb::arg("outputs"),
           nb::arg("stream") = 0,
           "Runs an entry (the GIL is released during the call). CUDA "
           "kernels take device pointers and queue on `stream` (a CUstream).")
      .def("target",
           [](const Kernel &self) {
             return std::string(attnir_kernel_target(self.k));
           })
      .def(
          "set_threads",
          [](Kernel &self, int32_t threads) {
            if (attnir_set_threads(self.k, threads) != 0)
              throw nb::value_error(lastError("bad thread count").c_str());
          },
          nb::arg("threads"))
      .def("get_threads",
           [](const Kernel &self) { return attnir_get_threads(self.k); })
      .def("save", &kernelSave, nb::arg("path"))
      .def("ir", &kernelIR, nb::arg("stage"));
}

} // namespace

NB_MODULE(_attnir, m) {
  m.doc() = "Thin bindings of the AttnIR C API (include/attnir-c/attnir.h).";

  nb::exception<CompileFailure>(m, "CompileFailure", PyExc_RuntimeError);
  nb::exception<LoadFailure>(m, "LoadFailure", PyExc_RuntimeError);

  m.attr("C_API_VERSION") = ATTNIR_C_API_VERSION;
  // attnir.torch turns these off: torch's operator registry holds the
  // registered kernels until the interpreter ends, after nanobind's check.
  m.def("set_leak_warnings", [](bool on) { nb::set_leak_warnings(on); },
        nb::arg("on"));

  m.def(
      "_register_ndarray",
      [](nb::handle type) {
        if (!PyType_Check(type.ptr()))
          throw nb::type_error("expected numpy.ndarray");
        Py_INCREF(type.ptr());
        ndarrayType = reinterpret_cast<PyTypeObject *>(type.ptr());
      },
      "Enables the (ndarray, dtype) tensor form (called by the package).");

  m.def("version", []() { return std::string(attnir_version()); });
  m.def("workspace_stats", []() {
    uint64_t allocations = 0, held = 0;
    attnir_workspace_stats(&allocations, &held);
    return nb::make_tuple(allocations, held);
  });
  m.def("has_compiler", []() { return attnir_has_compiler() != 0; });
  m.def("compile", &compileSpec, nb::arg("spec"), nb::arg("target") = "cpu",
        nb::arg("options").none() = nb::none(),
        "Compiles MLIR spec text; raises CompileFailure with the "
        "diagnostics.");
  m.def("load", &loadKernel, nb::arg("path"),
        "Loads a saved kernel; raises LoadFailure.");
  m.def("reference", &specReference, nb::arg("spec"), nb::arg("entry").none(),
        nb::arg("inputs"),
        "float64 results of the spec's entry (the C API's reference): a list "
        "of (bytes, shape).");
  bindKernel(m);
}
