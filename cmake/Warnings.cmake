add_library(personas_warnings INTERFACE)
target_compile_options(personas_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow=local -Wno-unused-parameter>)
if(PERSONAS_WERROR)
  target_compile_options(personas_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
