# FluentBitOpamp.cmake - build the opamp plugin with cargo from CMake and
# install it beside Fluent Bit, for custom Fluent Bit image builds.
#
#   include(path/to/fluent-bit-opamp/cmake/FluentBitOpamp.cmake)
#   # optional: set(FLB_OPAMP_INSTALL_DIR lib/fluent-bit) before include()
#
# Produces the target `fluent_bit_opamp` and installs the library as
# ${FLB_OPAMP_INSTALL_DIR}/opamp.so. The name must not start with "flb-":
# Fluent Bit would send such a file to its C-plugin loader instead.

find_program(CARGO_EXECUTABLE cargo REQUIRED)

get_filename_component(FLB_OPAMP_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(FLB_OPAMP_TARGET_DIR "${CMAKE_BINARY_DIR}/fluent-bit-opamp")
set(FLB_OPAMP_LIBRARY "${FLB_OPAMP_TARGET_DIR}/release/libfluent_bit_opamp.so")
if(NOT DEFINED FLB_OPAMP_INSTALL_DIR)
  set(FLB_OPAMP_INSTALL_DIR "lib/fluent-bit")
endif()

add_custom_command(
  OUTPUT "${FLB_OPAMP_LIBRARY}"
  COMMAND "${CARGO_EXECUTABLE}" build --release --locked
          --manifest-path "${FLB_OPAMP_SOURCE_DIR}/Cargo.toml"
          --target-dir "${FLB_OPAMP_TARGET_DIR}"
  WORKING_DIRECTORY "${FLB_OPAMP_SOURCE_DIR}"
  COMMENT "Building the Fluent Bit opamp plugin with cargo"
  USES_TERMINAL
  VERBATIM)

add_custom_target(fluent_bit_opamp ALL DEPENDS "${FLB_OPAMP_LIBRARY}")

install(FILES "${FLB_OPAMP_LIBRARY}"
        DESTINATION "${FLB_OPAMP_INSTALL_DIR}"
        RENAME opamp.so
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
