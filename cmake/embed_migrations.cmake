# Generates a C++ source defining `<service>::Migrations()` from the SQL files in FILES.
# Each file becomes a raw string literal; the delimiter is checked not to occur in the file.
set(body "")
foreach(file IN LISTS FILES)
  get_filename_component(name ${file} NAME)
  string(REGEX MATCH "^[0-9]+" version ${name})
  math(EXPR version "${version}")
  file(READ ${file} sql)
  string(FIND "${sql}" ")__sql__" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains the sequence )__sql__")
  endif()
  string(APPEND body "    {${version}, \"${name}\", R\"__sql__(${sql})__sql__\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from ${SERVICE}/migrations by cmake/embed_migrations.cmake. Do not edit.
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
