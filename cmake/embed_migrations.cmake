# Generates a C++ source defining `<service>::Migrations()`: the platform's shared migrations
# (COMMONS_FILES, track "commons") followed by the service's own (FILES, track "<service>").
# Each file becomes a raw string literal; the delimiter is checked not to occur in the file.
set(body "")
foreach(track_and_files IN ITEMS "commons|${COMMONS_FILES}" "${SERVICE}|${FILES}")
  string(FIND "${track_and_files}" "|" bar)
  string(SUBSTRING "${track_and_files}" 0 ${bar} track)
  math(EXPR rest "${bar} + 1")
  string(SUBSTRING "${track_and_files}" ${rest} -1 files)
  foreach(file IN LISTS files)
    get_filename_component(name ${file} NAME)
    string(REGEX MATCH "^[0-9]+" version ${name})
    math(EXPR version "${version}")
    file(READ ${file} sql)
    string(FIND "${sql}" ")__sql__" clash)
    if(NOT clash EQUAL -1)
      message(FATAL_ERROR "${file} contains the sequence )__sql__")
    endif()
    string(APPEND body "    {${version}, \"${name}\", R\"__sql__(${sql})__sql__\", \"${track}\"},\n")
  endforeach()
endforeach()
file(WRITE ${OUT}.tmp "// Generated from commons/migrations and ${SERVICE}/migrations by
// cmake/embed_migrations.cmake. Do not edit.
#include \"commons/migrations.hpp\"

namespace ${SERVICE} {

const std::vector<commons::Migration>& Migrations() {
  static const std::vector<commons::Migration> kMigrations = {
${body}  };
  return kMigrations;
}

}  // namespace ${SERVICE}
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
