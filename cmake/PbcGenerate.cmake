# pbc_generate(TARGET <target> SCHEMAS <file.pbs>... [IMPORT_DIRS <dir>...]
#              [OUTPUT_DIR <dir>])
#
# Compiles each schema with pbc into <name>.pb.h / <name>.pb.c, adds the
# sources to <target>, puts the output directory on its include path, and
# links it to libprotobase.  pbc writes a depfile, so a change to a schema OR
# to any schema it imports regenerates the code.  Usage, in an application:
#
#   find_package(protobase REQUIRED)
#   add_executable(app main.c)
#   pbc_generate(TARGET app SCHEMAS schemas/tasks.pbs)
include_guard(GLOBAL)

function(pbc_generate)
  cmake_parse_arguments(PBC "" "TARGET;OUTPUT_DIR;LINK" "SCHEMAS;IMPORT_DIRS"
                        ${ARGN})
  if(NOT PBC_TARGET OR NOT PBC_SCHEMAS)
    message(FATAL_ERROR "pbc_generate: TARGET and SCHEMAS are required")
  endif()
  if(NOT PBC_OUTPUT_DIR)
    set(PBC_OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/pbc_${PBC_TARGET})
  endif()
  if(NOT PBC_LINK)
    set(PBC_LINK protobase::protobase)
  endif()
  if(TARGET protobase::pbc)
    set(pbc_exe $<TARGET_FILE:protobase::pbc>)
    set(pbc_dep protobase::pbc)
  else()
    message(FATAL_ERROR "pbc_generate: the protobase::pbc target is missing")
  endif()

  set(include_flags)
  foreach(dir IN LISTS PBC_IMPORT_DIRS)
    get_filename_component(dir ${dir} ABSOLUTE)
    list(APPEND include_flags -I ${dir})
  endforeach()

  set(generated)
  foreach(schema IN LISTS PBC_SCHEMAS)
    get_filename_component(schema ${schema} ABSOLUTE)
    get_filename_component(base ${schema} NAME_WLE)
    set(out_h ${PBC_OUTPUT_DIR}/${base}.pb.h)
    set(out_c ${PBC_OUTPUT_DIR}/${base}.pb.c)
    set(depfile ${PBC_OUTPUT_DIR}/${base}.pb.d)
    add_custom_command(
      OUTPUT ${out_h} ${out_c}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PBC_OUTPUT_DIR}
      COMMAND ${pbc_exe} -o ${PBC_OUTPUT_DIR} ${include_flags}
              --depfile ${depfile} ${schema}
      MAIN_DEPENDENCY ${schema}
      DEPENDS ${pbc_dep}
      DEPFILE ${depfile}
      COMMENT "pbc ${base}.pbs"
      VERBATIM)
    list(APPEND generated ${out_c} ${out_h})
  endforeach()

  target_sources(${PBC_TARGET} PRIVATE ${generated})
  target_include_directories(${PBC_TARGET} PRIVATE ${PBC_OUTPUT_DIR})
  target_link_libraries(${PBC_TARGET} PRIVATE ${PBC_LINK})
endfunction()
