# Warnings for our own targets only (third-party headers are included as SYSTEM by their imported targets).
add_library(jumeau_warnings INTERFACE)
target_compile_options(jumeau_warnings INTERFACE -Wall -Wextra -Wpedantic)
# Assertions stay on in every build type: a plan that is wrong is worse than no plan.
target_compile_options(jumeau_warnings INTERFACE -UNDEBUG)

# jumeau_module(NAME DIR ...) : one static library per module, sources globbed so adding a file needs no edit here.
function(jumeau_add_module name)
  file(GLOB_RECURSE _src CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp")
  file(GLOB_RECURSE _hdr CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/include/*.h")
  add_library(${name} STATIC ${_src} ${_hdr})
  add_library(jumeau::${name} ALIAS ${name})
  target_include_directories(${name} PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/include" PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/src")
  target_link_libraries(${name} PRIVATE jumeau_warnings)
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
