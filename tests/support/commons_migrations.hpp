#pragma once

// The platform's shared migrations (commons/migrations/NNN_*.sql) read from the source tree,
// for tests that need those tables in a schema of their own. The test target defines
// PAYMENTS_SOURCE_DIR.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "commons/migrations.hpp"
#include "support/temp_dir.hpp"

namespace test_support {

// The migrations of one track: `<directory>/NNN_*.sql` under the source tree, in order.
inline std::vector<commons::Migration> MigrationsIn(const std::string& directory,
                                                    const std::string& track) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::string(PAYMENTS_SOURCE_DIR) + "/" + directory)) {
        if (entry.path().extension() == ".sql") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<commons::Migration> migrations;
    for (const auto& file : files) {
        std::string name = file.filename().string();
        migrations.push_back({std::stoi(name.substr(0, 3)), name, ReadFile(file), track});
    }
    return migrations;
}

inline std::vector<commons::Migration> CommonsMigrations() {
    return MigrationsIn("commons/migrations", "commons");
}

// What `<service>-service migrate` applies: the commons track plus the service's own.
inline std::vector<commons::Migration> ServiceMigrations(const std::string& service) {
    auto migrations = CommonsMigrations();
    for (auto& migration : MigrationsIn(service + "/migrations", service)) {
        migrations.push_back(std::move(migration));
    }
    return migrations;
}

}  // namespace test_support
