package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// dialect holds the few SQL differences between SQLite, MySQL/MariaDB and
// PostgreSQL. Queries are written once with ? placeholders.
type dialect struct {
	name string // "sqlite", "mysql", "postgres"
}

// q rewrites ? placeholders to $n for PostgreSQL. Queries never contain a
// literal question mark.
func (d dialect) q(query string) string {
	if d.name != "postgres" {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// max is the two-argument maximum function.
func (d dialect) max() string {
	if d.name == "sqlite" {
		return "MAX"
	}
	return "GREATEST"
}

// upsertAdd builds an INSERT of keys+vals that, on a key conflict, adds the
// vals columns to the stored ones and keeps the maximum of the maxes
// columns.
func (d dialect) upsertAdd(table string, keys, adds, maxes []string) string {
	cols := append(append(append([]string{}, keys...), adds...), maxes...)
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
	var set []string
	for _, c := range adds {
		if d.name == "mysql" {
			set = append(set, fmt.Sprintf("%s = %s + VALUES(%s)", c, c, c))
		} else {
			set = append(set, fmt.Sprintf("%s = %s.%s + excluded.%s", c, table, c, c))
		}
	}
	for _, c := range maxes {
		if d.name == "mysql" {
			set = append(set, fmt.Sprintf("%s = GREATEST(%s, VALUES(%s))", c, c, c))
		} else {
			set = append(set, fmt.Sprintf("%s = %s(%s.%s, excluded.%s)", c, d.max(), table, c, c))
		}
	}
	head := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ", table, strings.Join(cols, ", "), ph)
	if d.name == "mysql" {
		return head + "ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	}
	return head + "ON CONFLICT (" + strings.Join(keys, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// lockRow builds a statement that makes sure the row with primary key col
// = ? exists in table and holds its write lock until the transaction ends:
// the per-number (or per-call) mutex that works across processes. On
// MySQL/PostgreSQL a no-op update of the duplicate takes the exclusive row
// lock directly (INSERT IGNORE + SELECT FOR UPDATE would take a shared lock
// first and deadlock on the upgrade). SQLite's BEGIN IMMEDIATE already
// serialises writers, so the insert is enough there.
func (d dialect) lockRow(table, col string) string {
	switch d.name {
	case "mysql":
		return fmt.Sprintf("INSERT INTO %s (%s) VALUES (?) ON DUPLICATE KEY UPDATE %s = %s", table, col, col, col)
	case "postgres":
		return fmt.Sprintf("INSERT INTO %s (%s) VALUES (?) ON CONFLICT (%s) DO UPDATE SET %s = excluded.%s", table, col, col, col, col)
	}
	return fmt.Sprintf("INSERT OR IGNORE INTO %s (%s) VALUES (?)", table, col)
}

// insertIgnore builds an INSERT that does nothing when the unique key
// conflicts; RowsAffected is then 0.
func (d dialect) insertIgnore(table string, cols []string, conflict string) string {
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
	head := fmt.Sprintf("INTO %s (%s) VALUES (%s)", table, strings.Join(cols, ", "), ph)
	switch d.name {
	case "mysql":
		// Not INSERT IGNORE: that would also turn real errors into warnings.
		// A no-op update reports 0 rows affected (CLIENT_FOUND_ROWS is off).
		return "INSERT " + head + " ON DUPLICATE KEY UPDATE " + conflict + " = " + conflict
	}
	return "INSERT " + head + " ON CONFLICT (" + conflict + ") DO NOTHING"
}

// hourBucket is the SQL expression of the hour number (ms / 3600000) of a
// millisecond column, as an integer.
func (d dialect) hourBucket(col string) string {
	if d.name == "mysql" {
		return col + " DIV 3600000"
	}
	return col + " / 3600000"
}

// retryable reports a deadlock or serialisation failure worth retrying the
// whole transaction for (MySQL 1213 deadlock, 1205 lock wait timeout;
// PostgreSQL 40001, 40P01; SQLite busy after its own timeout).
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}
