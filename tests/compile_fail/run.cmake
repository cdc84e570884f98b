# tests/compile_fail/run.cmake - compiles cases.c with -DCASE_${CASE} and
# checks the outcome: CASE "ok" must compile; any other case must FAIL, with
# an error that matches EXPECT (so that it fails for the type reason, not
# another).  No -Werror: each mistake must be an error of C11 itself.
#
#   cmake -DCC=<compiler> -DSRC=<cases.c> -DCASE=<name> -DINCLUDES=<a;b>
#         [-DEXPECT=<regex>] -P run.cmake
foreach(var CC SRC CASE INCLUDES)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake: ${var} is not set")
  endif()
endforeach()
set(args -std=c11 -Wall -Wextra -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  if(NOT EXISTS ${dir})
    message(FATAL_ERROR "run.cmake: ${dir} does not exist (build test_tables_gen first)")
  endif()
  list(APPEND args -I${dir})
endforeach()
if(NOT CASE STREQUAL "ok")
  list(APPEND args -DCASE_${CASE})
endif()
set(ENV{LC_ALL} C) # ASCII quotes in the messages
execute_process(COMMAND ${CC} ${args} ${SRC}
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(CASE STREQUAL "ok")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "the control case does not compile:\n${err}")
  endif()
  if(err MATCHES "warning")
    message(FATAL_ERROR "the control case has warnings:\n${err}")
  endif()
  message(STATUS "ok: compiles")
  return()
endif()
if(status EQUAL 0)
  message(FATAL_ERROR "case ${CASE} compiled, but must not:\n${err}")
endif()
if(NOT err MATCHES "error: [^\n]*(${EXPECT})")
  message(FATAL_ERROR "case ${CASE} failed, but not with an error matching "
                      "'${EXPECT}':\n${err}")
endif()
message(STATUS "${CASE}: fails as expected")
