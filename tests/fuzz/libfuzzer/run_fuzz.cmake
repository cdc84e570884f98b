# run_fuzz.cmake - one bounded libFuzzer run, as a ctest test.
#
#   cmake -DFUZZER=<binary> -DSEEDS=<dir>|<dir>... -DPATTERN=<glob>
#         -DWORK=<dir> -DSECONDS=<n> -DMAX_LEN=<bytes> -P run_fuzz.cmake
#
# Copies every file matching PATTERN under each seed directory (recursively)
# into a fresh WORK/corpus, then fuzzes that copy, so the new inputs libFuzzer
# keeps are written into the build tree and never into the sources.  A crash
# leaves its input in WORK/ (crash-*, leak-*, timeout-*, oom-*); the test
# fails on any non-zero exit of the fuzzer.
foreach(v FUZZER SEEDS PATTERN WORK SECONDS MAX_LEN)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzz.cmake: -D${v}=... is missing")
  endif()
endforeach()

set(corpus ${WORK}/corpus)
file(REMOVE_RECURSE ${corpus})
file(MAKE_DIRECTORY ${corpus})
string(REPLACE "|" ";" seed_dirs "${SEEDS}")
set(count 0)
foreach(dir IN LISTS seed_dirs)
  if(NOT IS_DIRECTORY ${dir})
    continue()
  endif()
  file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE ${dir}
       ${dir}/${PATTERN})
  foreach(rel IN LISTS files)
    get_filename_component(name ${rel} NAME)
    if(name MATCHES "^\\." OR name MATCHES "README")
      continue()
    endif()
    # Flatten sub/dir/x.pbs to sub_dir_x.pbs, so same-named files of two
    # folders both stay.
    string(REPLACE "/" "_" flat ${rel})
    configure_file(${dir}/${rel} ${corpus}/${flat} COPYONLY)
    math(EXPR count "${count} + 1")
  endforeach()
endforeach()
message(STATUS "run_fuzz: ${count} seed files -> ${corpus}")

execute_process(
  COMMAND ${FUZZER}
    -max_total_time=${SECONDS}
    -timeout=5
    -rss_limit_mb=2048
    -max_len=${MAX_LEN}
    -print_final_stats=1
    -artifact_prefix=${WORK}/
    ${corpus}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run_fuzz: ${FUZZER} failed (exit status ${rc}); "
          "the input that broke it is in ${WORK}/")
endif()
