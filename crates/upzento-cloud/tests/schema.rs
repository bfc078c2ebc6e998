//! The two migration histories (SQLite and PostgreSQL) must end in the same schema:
//! after all migrations, the tables, their columns (name, type, nullability), primary
//! keys, indexes (columns, order, uniqueness) and foreign keys are read back from each
//! database's catalogue and compared. A difference fails the test unless it is one of
//! the dialect mappings listed in [`mapped`].
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use upzento_cloud::store::sqlite::SqliteStore;

/// A schema as both catalogues can tell it, in a form that compares.
#[derive(Debug, Default, PartialEq)]
struct Schema {
    /// (table, column, type class, nullable)
    columns: BTreeSet<(String, String, &'static str, bool)>,
    /// (table, columns of the primary key)
    primary_keys: BTreeSet<(String, Vec<String>)>,
    /// (table, indexed columns in order, unique); primary keys' own indexes left out
    indexes: BTreeSet<(String, Vec<String>, bool)>,
    /// (table, columns, referenced table, referenced columns)
    foreign_keys: BTreeSet<(String, Vec<String>, String, Vec<String>)>,
}

/// The type class of a column: what its values are, whatever each dialect calls it.
/// These are the known dialect mappings: SQLite stores booleans as integers, times as
/// integer milliseconds and JSON as text, where PostgreSQL has boolean, timestamptz
/// and jsonb.
fn mapped(sql_type: &str) -> &'static str {
    match sql_type.to_ascii_lowercase().as_str() {
        "text" | "character varying" | "varchar" => "text",
        "integer" | "bigint" | "smallint" | "int" | "int8" | "int4" => "integer",
        "boolean" | "bool" => "integer",
        "timestamp with time zone" | "timestamptz" => "integer",
        "jsonb" | "json" => "text",
        "real" | "double precision" | "numeric" | "float8" => "real",
        "blob" | "bytea" => "blob",
        other => panic!("a column type with no mapping: {other}"),
    }
}

fn sqlite_schema(path: &std::path::Path) -> Schema {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut schema = Schema::default();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut info = conn
            .prepare(&format!(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
            ))
            .unwrap();
        let rows = info
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (name, sql_type, not_null, in_pk) = row.unwrap();
            // SQLite lets a primary key column hold NULL unless it says NOT NULL; the
            // schemas declare them NOT NULL on PostgreSQL, where that is implied.
            let nullable = !not_null && in_pk == 0;
            schema
                .columns
                .insert((table.clone(), name.clone(), mapped(&sql_type), nullable));
            if in_pk > 0 {
                pk.push((in_pk, name));
            }
        }
        pk.sort();
        let pk: Vec<String> = pk.into_iter().map(|(_, name)| name).collect();
        if !pk.is_empty() {
            schema.primary_keys.insert((table.clone(), pk.clone()));
        }
        let indexes: Vec<(String, bool, String)> = conn
            .prepare(&format!(
                "SELECT name, \"unique\", origin FROM pragma_index_list('{table}')"
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (index, unique, origin) in indexes {
            // An expression's column has no name (on either side).
            let columns: Vec<String> = conn
                .prepare(&format!(
                    "SELECT coalesce(name, '<expression>') FROM pragma_index_info('{index}') ORDER BY seqno"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            if origin == "pk" || columns == pk {
                continue;
            }
            schema.indexes.insert((table.clone(), columns, unique));
        }
        let mut fks: std::collections::BTreeMap<i64, (String, Vec<String>, Vec<String>)> =
            std::collections::BTreeMap::new();
        let rows: Vec<(i64, String, String, String)> = conn
            .prepare(&format!(
                "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list('{table}') ORDER BY id, seq"
            ))
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (id, target, from, to) in rows {
            let fk = fks
                .entry(id)
                .or_insert_with(|| (target, Vec::new(), Vec::new()));
            fk.1.push(from);
            fk.2.push(to);
        }
        for (target, from, to) in fks.into_values() {
            schema
                .foreign_keys
                .insert((table.clone(), from, target, to));
        }
    }
    schema
}

async fn postgres_schema(url: &str) -> Schema {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut schema = Schema::default();
    for row in client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'YES'
             FROM information_schema.columns WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
    {
        let sql_type: String = row.get(2);
        schema
            .columns
            .insert((row.get(0), row.get(1), mapped(&sql_type), row.get(3)));
    }
    // Indexes with their columns in order; the primary key's apart.
    for row in client
        .query(
            "SELECT t.relname::text, i.indisunique, i.indisprimary,
                    array_agg(coalesce(a.attname::text, '<expression>') ORDER BY k.n)
             FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = 'public'
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
             GROUP BY t.relname, i.indexrelid, i.indisunique, i.indisprimary",
            &[],
        )
        .await
        .unwrap()
    {
        let (table, unique, primary, columns): (String, bool, bool, Vec<String>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if primary {
            schema.primary_keys.insert((table, columns));
        } else {
            schema.indexes.insert((table, columns, unique));
        }
    }
    for row in client
        .query(
            "SELECT t.relname::text, r.relname::text,
                    array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
                    array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
             FROM pg_constraint c
             JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_class r ON r.oid = c.confrelid
             JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = 'public'
             WHERE c.contype = 'f'",
            &[],
        )
        .await
        .unwrap()
    {
        schema
            .foreign_keys
            .insert((row.get(0), row.get(2), row.get(1), row.get(3)));
    }
    schema
}

/// What is in `a` and not in `b`, one line each.
fn missing<T: Ord + std::fmt::Debug>(a: &BTreeSet<T>, b: &BTreeSet<T>, what: &str) -> Vec<String> {
    a.difference(b).map(|x| format!("{what} {x:?}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_histories_end_in_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.db");
    drop(SqliteStore::open(&path).unwrap());
    let lite = sqlite_schema(&path);

    let (url, _guard) = common::fresh_pg_database().await;
    drop(
        upzento_cloud::store::postgres::PgStore::connect(&url)
            .await
            .unwrap(),
    );
    let mut pg = postgres_schema(&url).await;
    // Known: PostgreSQL records applied migrations in a table (its migrations run under
    // an advisory lock, node by node); SQLite counts them in `PRAGMA user_version`.
    let bookkeeping = |table: &str| table == "schema_migration";
    pg.columns.retain(|(table, ..)| !bookkeeping(table));
    pg.primary_keys.retain(|(table, _)| !bookkeeping(table));

    assert!(
        lite.columns.len() > 100 && lite.indexes.len() > 10 && lite.foreign_keys.len() > 5,
        "read too little: {lite:?}"
    );
    eprintln!(
        "compared {} columns, {} primary keys, {} indexes, {} foreign keys",
        lite.columns.len(),
        lite.primary_keys.len(),
        lite.indexes.len(),
        lite.foreign_keys.len()
    );
    let mut differences = Vec::new();
    for (only, a, b) in [
        ("only on SQLite:", &lite, &pg),
        ("only on PostgreSQL:", &pg, &lite),
    ] {
        differences.extend(missing(&a.columns, &b.columns, &format!("{only} column")));
        differences.extend(missing(
            &a.primary_keys,
            &b.primary_keys,
            &format!("{only} primary key"),
        ));
        differences.extend(missing(&a.indexes, &b.indexes, &format!("{only} index")));
        differences.extend(missing(
            &a.foreign_keys,
            &b.foreign_keys,
            &format!("{only} foreign key"),
        ));
    }
    assert!(
        differences.is_empty(),
        "the schemas differ:\n{}",
        differences.join("\n")
    );
}
