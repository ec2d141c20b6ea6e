"""The property sweeps' families by name: (draw a case from an rng, its spec
text, its inputs), for whoever takes every family alike: bench/gpu/
build_sweep.py (the cases as CUDA bundles) and test_sweep.py (every family
compiles for both CUDA kernels)."""
import linear_sweep
import program_sweep
import retrieval_sweep
import sweep

FAMILIES = {
    "attention": (sweep.random_case, sweep.spec_of,
                  lambda c, rng: sweep.inputs_of(c, rng)[0]),
    "programs": (program_sweep.random_program, program_sweep.program_of,
                 program_sweep.inputs_of),
    "linear": (linear_sweep.random_linear, linear_sweep.linear_spec,
               linear_sweep.linear_inputs),
    "retrieval": (retrieval_sweep.random_retrieval, retrieval_sweep.retrieval_spec,
                  retrieval_sweep.retrieval_inputs),
}
