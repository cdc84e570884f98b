# Installs the build tree at PB_BUILD_DIR into a temporary prefix, then
# configures, builds and runs the consumer project against it, checks
# pkg-config, and checks that editing an IMPORTED schema regenerates the
# schema that imports it (pbc's depfile).
#   cmake -DPB_BUILD_DIR=... -DPB_CONSUMER_DIR=... -DPB_WORK_DIR=...
#         -DPB_C_COMPILER=... [-DPB_SANITIZE=...] -P run.cmake
cmake_minimum_required(VERSION 3.20)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(OUT "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${PB_WORK_DIR})
set(prefix ${PB_WORK_DIR}/prefix)
set(src ${PB_WORK_DIR}/src)
set(build ${PB_WORK_DIR}/build)
file(COPY ${PB_CONSUMER_DIR}/ DESTINATION ${src})
file(REMOVE ${src}/run.cmake)

run(${CMAKE_COMMAND} --install ${PB_BUILD_DIR} --prefix ${prefix})
foreach(f bin/pbc bin/pbtool include/protobase/protobase.h lib/cmake/protobase/protobaseConfig.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
# The installed pbtool runs without a library path (linked statically).
run(${prefix}/bin/pbtool --help)

set(flags)
if(PB_SANITIZE)
  set(flags -DCMAKE_C_FLAGS=-fsanitize=${PB_SANITIZE})
endif()
run(${CMAKE_COMMAND} -S ${src} -B ${build} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_C_COMPILER=${PB_C_COMPILER} ${flags})
run(${CMAKE_COMMAND} --build ${build})
run(${build}/consumer ${PB_WORK_DIR}/data)
if(NOT OUT MATCHES "consumer ok: note 7 \"installed and found\"")
  message(FATAL_ERROR "unexpected consumer output: ${OUT}")
endif()
message(STATUS "${OUT}")

# pkg-config finds the same library.
find_program(PKG_CONFIG pkg-config REQUIRED)
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig:${prefix}/lib64/pkgconfig)
run(${PKG_CONFIG} --cflags --libs protobase)
string(REGEX MATCH "-I[^ \n]*" incflag "${OUT}")
string(SUBSTRING "${incflag}" 2 -1 incdir)
if(NOT OUT MATCHES "-lprotobase" OR NOT EXISTS "${incdir}/protobase/protobase.h")
  message(FATAL_ERROR "bad pkg-config output: ${OUT}")
endif()

# Edit the imported schema: notes.pb.c must be regenerated (depfile).
file(APPEND ${src}/common.pbs "record Extra { bool flag = 1; }\n")
run(${CMAKE_COMMAND} --build ${build})
if(NOT OUT MATCHES "pbc notes")
  message(FATAL_ERROR "editing common.pbs did not regenerate notes:\n${OUT}")
endif()
# And a no-op build regenerates nothing.
run(${CMAKE_COMMAND} --build ${build})
if(OUT MATCHES "pbc ")
  message(FATAL_ERROR "a no-op build ran pbc again:\n${OUT}")
endif()
message(STATUS "install (pbc, pbtool), find_package, pbc_generate, pkg-config, depfile: ok")
