# Shared helpers for plugin and test targets.

# oa_add_plugin(<name> SOURCES <files...> [LIBS <targets...>] [OUTPUT_DIR <dir>])
# Builds build/plugins/<name>.so: a MODULE with no "lib" prefix, hidden
# visibility, the SDK headers, and nothing from the host.
function(oa_add_plugin name)
  cmake_parse_arguments(P "" "OUTPUT_DIR" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                                           VISIBILITY_INLINES_HIDDEN ON)
  if(P_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR})
  else()
    install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/openace/plugins)
  endif()
  target_link_libraries(${name} PRIVATE openace_sdk ${P_LIBS})
  target_link_options(${name} PRIVATE -Wl,--no-undefined)
endfunction()

# oa_add_test(<name> SOURCES <files...> [LIBS <targets...>])
# A cmocka test binary registered as one CTest test.
function(oa_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE PkgConfig::CMOCKA ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  # A hung test fails after 5 minutes instead of eating the CI budget.
  set_tests_properties(${name} PROPERTIES TIMEOUT 300
    ENVIRONMENT "OA_TEST_PLUGIN_DIR=${CMAKE_BINARY_DIR}/tests/plugins;OA_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()
