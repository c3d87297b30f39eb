#include "commons/migrations.hpp"

#include <algorithm>
#include <map>

#include "commons/crypto.hpp"
#include "commons/db_transaction.hpp"
#include "commons/log.hpp"

namespace commons {

bool IsValidSchemaName(std::string_view schema) {
    if (schema.empty() || schema.size() > 63) return false;
    if (!(schema[0] == '_' || (schema[0] >= 'a' && schema[0] <= 'z'))) return false;
    return std::all_of(schema.begin(), schema.end(), [](char c) {
        return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    });
}

MigrationReport ApplyMigrations(ConnectionPool& pool, std::string_view schema_view,
                                const std::vector<Migration>& migrations, Logger& logger) {
    const std::string schema(schema_view);
    if (!IsValidSchemaName(schema)) {
        throw MigrationError("invalid schema name \"" + schema + "\"");
    }
    std::map<std::string, int> newest_known;  // per track
    for (const auto& migration : migrations) {
        int& newest = newest_known[migration.track];
        if (migration.version <= newest) {
            throw MigrationError(
                "migration versions must be positive and strictly increasing within a track: " +
                migration.track + "/" + migration.name);
        }
        newest = migration.version;
    }

    // The schema name is validated above, so it can be spliced into DDL safely.
    return WithTransaction(pool, [&](pqxx::dbtransaction& tx) {
        MigrationReport report;
        tx.exec_params(
            "SELECT pg_advisory_xact_lock(hashtext('payments.migrations'), hashtext($1))", schema);
        tx.exec0("CREATE SCHEMA IF NOT EXISTS " + schema);
        tx.exec0("CREATE TABLE IF NOT EXISTS " + schema +
                 ".schema_migrations (track text NOT NULL, version integer NOT NULL, "
                 "name text NOT NULL, checksum text NOT NULL, "
                 "applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (track, version))");

        using Key = std::pair<std::string, int>;
        std::map<Key, std::pair<std::string, std::string>> applied;
        for (const auto& row : tx.exec("SELECT track, version, name, checksum FROM " + schema +
                                       ".schema_migrations")) {
            applied[{row[0].as<std::string>(), row[1].as<int>()}] = {row[2].as<std::string>(),
                                                                     row[3].as<std::string>()};
        }
        for (const auto& [key, recorded] : applied) {
            auto it = std::find_if(migrations.begin(), migrations.end(),
                                   [&key = key](const Migration& m) {
                                       return m.track == key.first && m.version == key.second;
                                   });
            if (it == migrations.end()) {
                if (key.second > newest_known[key.first]) {
                    // A newer release migrated already; this binary can still run on it.
                    logger.Warn("database has a migration newer than this binary",
                                {{"schema", schema}, {"migration", recorded.first}});
                    continue;
                }
                throw MigrationError("migration " + recorded.first + " was applied to schema " +
                                     schema + " but is missing from this binary");
            }
            if (Sha256Hex(it->sql) != recorded.second) {
                throw MigrationError(
                    "migration " + it->name + " was edited after it was applied " + "to schema " +
                    schema + " (checksum " + recorded.second + " recorded, " + Sha256Hex(it->sql) +
                    " now); add a new migration instead of editing an applied one");
            }
            ++report.already_applied;
        }

        for (const auto& migration : migrations) {
            if (applied.count({migration.track, migration.version}) != 0) continue;
            tx.exec0("SET LOCAL search_path TO " + schema + ", public");
            try {
                tx.exec(migration.sql);
            } catch (const pqxx::sql_error& error) {
                throw MigrationError("migration " + migration.name + " failed: " + error.what());
            }
            tx.exec_params("INSERT INTO " + schema +
                               ".schema_migrations (track, version, name, checksum) "
                               "VALUES ($1, $2, $3, $4)",
                           migration.track, migration.version, migration.name,
                           Sha256Hex(migration.sql));
            report.applied.push_back(migration.name);
        }
        tx.exec0("SET LOCAL search_path TO DEFAULT");
        return report;
    });
}

}  // namespace commons
