cmake_minimum_required(VERSION 3.25)
# Checks that server/'s folders keep their layers (server/CMakeLists.txt):
# each folder includes only the folders it may depend on, and gRPC, curl,
# Prometheus and hiredis headers stay in the one place each belongs.
# Run as: cmake -DSOURCE_DIR=... -P layering_test.cmake
set(may_include_wechat wechat)
set(may_include_base base)
set(may_include_token base token config wechat)
set(may_include_store base token config store)
set(may_include_config base token config wechat)
set(may_include_messages base token config messages wechat)
set(may_include_metrics base token config metrics wechat)
set(may_include_grpc base token config store messages metrics grpc wechat)
set(may_include_http base config messages http)

# header pattern -> the only paths (regex) that may include it
set(private_headers
  "^<(grpc|grpcpp)/|^\"(wxtoken/v1|grpc/health)/" "^server/(grpc/|main\\.cc)"
  "^<curl/" "^server/wechat/curl_upstream\\.cc$"
  "^<prometheus/" "^server/(metrics/|main\\.cc)"
  "^<hiredis/" "^server/store/redis_connection\\.cc$"
  "^<httplib\\.h>" "^server/http/push_listener\\.cc$")

file(GLOB_RECURSE sources RELATIVE ${SOURCE_DIR}
  ${SOURCE_DIR}/server/*.cc ${SOURCE_DIR}/server/*.h)
set(failures 0)
foreach(source IN LISTS sources)
  file(STRINGS ${SOURCE_DIR}/${source} includes REGEX "^#include ")
  string(REGEX MATCH "^server/([a-z_]+)/" folder_match "${source}")
  set(folder "${CMAKE_MATCH_1}")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^#include +" "" header "${line}")
    string(REGEX REPLACE " *//.*$" "" header "${header}")
    if(folder AND header MATCHES "^\"server/([a-z_]+)/")
      set(target_folder "${CMAKE_MATCH_1}")
      if(NOT target_folder IN_LIST may_include_${folder})
        message(SEND_ERROR "${source}: server/${folder} may not include ${header}")
        math(EXPR failures "${failures} + 1")
      endif()
    endif()
    list(LENGTH private_headers count)
    math(EXPR last "${count} - 1")
    foreach(i RANGE 0 ${last} 2)
      math(EXPR j "${i} + 1")
      list(GET private_headers ${i} pattern)
      list(GET private_headers ${j} allowed)
      if(header MATCHES "${pattern}" AND NOT source MATCHES "${allowed}")
        message(SEND_ERROR "${source}: ${header} belongs only in ${allowed}")
        math(EXPR failures "${failures} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()
list(LENGTH sources checked)
if(failures GREATER 0)
  message(FATAL_ERROR "${failures} layering violations in ${checked} files")
endif()
message(STATUS "layering: ${checked} files keep their layers")
