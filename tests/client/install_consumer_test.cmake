# client_install_consumer_test: `cmake --install` the build into a fresh
# prefix, then configure, build and run tests/consumer against that prefix
# alone, as another team's service would.
#
# -D inputs: BUILD_DIR, CONSUMER_SOURCE_DIR, WORK_DIR, GENERATOR,
# CXX_COMPILER, BUILD_TYPE, CXX_FLAGS, LINKER_FLAGS (the build's compile and
# link options, so the libraries of a sanitizer build link), LIBDIR,
# INCLUDEDIR, DATADIR (the build's GNUInstallDirs).
cmake_minimum_required(VERSION 3.25)

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGV} COMMAND_ECHO STDOUT
                  COMMAND_ERROR_IS_FATAL ANY)
endfunction()

run("${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}"
    --component client)

foreach(file
    ${INCLUDEDIR}/wxtoken/client.h
    ${INCLUDEDIR}/wxtoken/v1/token_controller.pb.h
    ${INCLUDEDIR}/wxtoken/v1/token_controller.grpc.pb.h
    ${DATADIR}/wxtoken/proto/wxtoken/v1/token_controller.proto
    ${LIBDIR}/cmake/wxtoken/wxtokenConfig.cmake
    ${LIBDIR}/cmake/wxtoken/wxtokenConfigVersion.cmake
    ${LIBDIR}/cmake/wxtoken/wxtokenTargets.cmake)
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "not installed: ${file}")
  endif()
endforeach()
# The server's internals stay out of the installed tree.
file(GLOB_RECURSE installed_headers RELATIVE "${prefix}" "${prefix}/*.h")
list(FILTER installed_headers EXCLUDE REGEX "^${INCLUDEDIR}/wxtoken/")
if(installed_headers)
  message(FATAL_ERROR "unexpected headers installed: ${installed_headers}")
endif()

run("${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}"
    -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
# The package must come from the fresh prefix, not from anywhere else.
file(STRINGS "${consumer_build}/CMakeCache.txt" found REGEX "^wxtoken_DIR:")
if(NOT found STREQUAL "wxtoken_DIR:PATH=${prefix}/${LIBDIR}/cmake/wxtoken")
  message(FATAL_ERROR "wxtoken found elsewhere: ${found}")
endif()

run("${CMAKE_COMMAND}" --build "${consumer_build}")
run("${consumer_build}/consumer")
