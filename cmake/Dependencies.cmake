# Every external dependency, found once. Debian 12 packages: scripts/install-deps.sh.
find_package(MPI REQUIRED COMPONENTS C)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(CURL REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)  # data/: gzip-compressed ratings files
find_package(PkgConfig REQUIRED)
pkg_check_modules(SPM REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)  # io/: distill's compressed memories (libzstd-dev)

set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(CBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas)
if(CBLAS_INCLUDE_DIR)
  set_property(TARGET BLAS::BLAS APPEND PROPERTY INTERFACE_INCLUDE_DIRECTORIES ${CBLAS_INCLUDE_DIR})
endif()

# HDF5 through its C API only (Debian ships no h5pc++; see BUILD-NOTES).
find_package(HDF5 REQUIRED COMPONENTS C)
add_library(personas_hdf5 INTERFACE)
target_include_directories(personas_hdf5 INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(personas_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(personas_hdf5 INTERFACE ${HDF5_DEFINITIONS})

if(PERSONAS_TESTS)
  find_package(GTest REQUIRED)
endif()
if(PERSONAS_BENCH)
  find_package(benchmark QUIET)
endif()
