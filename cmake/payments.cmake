# Shared build settings for every target of ours. Third-party headers come in through imported
# targets, which CMake marks SYSTEM, so -Werror applies to our code only.
function(payments_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers)
  if(PAYMENTS_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(PAYMENTS_FUZZ)
    # Coverage for libFuzzer and ASan + UBSan in everything a fuzz target links; the fuzz
    # executables add -fsanitize=fuzzer (libFuzzer's main) themselves (fuzz/CMakeLists.txt).
    # UBSan's `function` check is left out: Clang 14 cannot emit its prologue data for
    # coroutines ("Cannot represent a difference across sections", server.cpp and client.cpp).
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Boost 1.74 enables co_await for Clang only with <experimental/coroutine>, which libstdc++
    # lacks; Clang 14 implements C++20 coroutines, which Asio then uses through <coroutine>.
    target_compile_definitions(${target} PRIVATE BOOST_ASIO_HAS_CO_AWAIT=1)
  endif()
endfunction()

# Unit tests (no servers) and integration tests (PostgreSQL and Redis from tools/devstack) are
# one executable each per module; every GoogleTest case becomes a CTest test with a label.
function(payments_test target label)
  add_executable(${target} ${ARGN})
  payments_defaults(${target})
  if(PAYMENTS_FUZZ)
    set_target_properties(${target} PROPERTIES EXCLUDE_FROM_ALL ON)
  endif()
  target_link_libraries(${target} PRIVATE GTest::gtest GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${target}
    PROPERTIES LABELS ${label} TIMEOUT 120
    DISCOVERY_MODE PRE_TEST)
endfunction()

# Embeds a service's migrations/NNN_name.sql files into the binary as a generated source, so a
# deployed image carries exactly the schema it was built with.
function(payments_embed_migrations target service dir)
  file(GLOB sql_files CONFIGURE_DEPENDS ${dir}/[0-9][0-9][0-9]_*.sql)
  list(SORT sql_files)
  file(GLOB commons_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/commons/migrations/[0-9][0-9][0-9]_*.sql)
  list(SORT commons_files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${service}_migrations.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DSERVICE=${service} -DOUT=${out} "-DFILES=${sql_files}"
            "-DCOMMONS_FILES=${commons_files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    DEPENDS ${sql_files} ${commons_files} ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    COMMENT "Embedding ${service} migrations"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()

# One service: <name>/main.cpp plus its embedded migrations, built to bin/<name>-service.
function(payments_service name)
  add_executable(${name}-service main.cpp)
  payments_defaults(${name}-service)
  if(PAYMENTS_FUZZ)
    set_target_properties(${name}-service PROPERTIES EXCLUDE_FROM_ALL ON)
  endif()
  payments_embed_migrations(${name}-service ${name} ${CMAKE_CURRENT_SOURCE_DIR}/migrations)
  target_link_libraries(${name}-service PRIVATE middleware commons)
endfunction()
