package asterisk

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// The database CDR backend: Asterisk writes every CDR itself into the cdr
// table the service reads (serve --cdr-source table), as the original
// system's cdr_mysql did. It is the only CDR path that survives the service
// being down or restarting: Asterisk does not keep AMI Cdr events for an
// absent client.
//
//   - MariaDB/MySQL: cdr_adaptive_odbc through res_odbc and unixODBC
//     (cdr_mysql was removed in Asterisk 19); the MariaDB ODBC driver.
//   - PostgreSQL: cdr_pgsql, Asterisk's native backend.
//   - SQLite: cdr_adaptive_odbc with the SQLite3 ODBC driver (Debian
//     libsqliteodbc), writing into the service's own database file on the
//     PBX host. Not cdr_sqlite3_custom: it can only write
//     <astlogdir>/master.db and maps columns through its own value template;
//     ODBC writes the service's file wherever it is, by column name, like
//     MariaDB.
//
// Both backends fill a column from the CDR variable of its name, so
// cdr.talksec gets the dialplan's Set(CDR(talksec)=...) and our own
// columns (id, request_id, callkey, dedup) keep their defaults: no
// variable of those names is ever set. calldate is written in UTC
// (usegmtime=yes, timezone=UTC), the zone of the service's cdr table.

// CDR database kinds.
const (
	CDRNone     = ""         // Cdr events over AMI only (cdr_manager)
	CDRMySQL    = "mysql"    // cdr_adaptive_odbc, MariaDB ODBC driver
	CDRPostgres = "postgres" // cdr_pgsql
	CDRSQLite   = "sqlite"   // cdr_adaptive_odbc, SQLite3 ODBC driver
)

// CDRDatabase is where Asterisk writes its CDRs.
type CDRDatabase struct {
	Kind     string // one of the CDR* kinds
	Host     string // server kinds
	Port     int
	Name     string // database name (server kinds)
	User     string
	Password string // secret: goes only into res_odbc.conf or cdr_pgsql.conf
	Path     string // SQLite: absolute path of the database file
	Table    string // default cdr
}

// ParseCDRDatabase reads a --db style URL (sqlite:<path>,
// mysql://user:pass@host:3306/db, postgres://user:pass@host:5432/db, with
// an optional ?table=name) into the database Asterisk writes to. A
// relative SQLite path is made absolute: Asterisk runs elsewhere.
func ParseCDRDatabase(dsn string) (CDRDatabase, error) {
	d := CDRDatabase{Table: "cdr"}
	base, query, _ := strings.Cut(dsn, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return d, errors.New("cdr database: bad query string")
		}
		if t := q.Get("table"); t != "" {
			d.Table = t
		}
	}
	switch {
	case strings.HasPrefix(base, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(base, "sqlite:"), "//")
		abs, err := filepath.Abs(p)
		if p == "" || err != nil {
			return d, fmt.Errorf("cdr database: sqlite path %q", p)
		}
		d.Kind, d.Path = CDRSQLite, abs
	case strings.HasPrefix(base, "mysql://"), strings.HasPrefix(base, "postgres://"):
		u, err := url.Parse(base)
		if err != nil {
			return d, errors.New("cdr database: unparsable URL")
		}
		d.Kind, d.Port = CDRMySQL, 3306
		if u.Scheme == "postgres" {
			d.Kind, d.Port = CDRPostgres, 5432
		}
		d.Host, d.Name = u.Hostname(), strings.TrimPrefix(u.Path, "/")
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return d, fmt.Errorf("cdr database: port %q", p)
			}
			d.Port = n
		}
		if u.User != nil {
			d.User = u.User.Username()
			d.Password, _ = u.User.Password()
		}
	default:
		return d, errors.New("cdr database: want sqlite:<path>, mysql://... or postgres://...")
	}
	return d, d.validate()
}

// validate checks every value that lands in a configuration file.
func (d CDRDatabase) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("cdr database: "+format, a...)) }
	switch d.Kind {
	case CDRNone:
		return nil
	case CDRSQLite:
		if !filepath.IsAbs(d.Path) || strings.ContainsAny(d.Path, ";\n\r\x00[]=") {
			bad("sqlite path %q: an absolute path without ; [ ] = or line breaks", d.Path)
		}
	case CDRMySQL, CDRPostgres:
		if !isHost(d.Host) {
			bad("host %q: an IP address or a host name", d.Host)
		}
		if d.Port < 1 || d.Port > 65535 {
			bad("port %d: 1-65535", d.Port)
		}
		if !isName(d.Name) {
			bad("database name %q: 1-40 letters, digits, '-' or '_'", d.Name)
		}
		if !isName(d.User) {
			bad("user %q: 1-40 letters, digits, '-' or '_'", d.User)
		}
		if err := checkSecret(d.Password); err != nil {
			bad("password: %w", err)
		}
	default:
		bad("kind %q: %q, %q or %q", d.Kind, CDRMySQL, CDRPostgres, CDRSQLite)
	}
	if !isName(d.Table) || strings.Contains(d.Table, "-") {
		bad("table %q: letters, digits and _", d.Table)
	}
	return errors.Join(errs...)
}

// Modules are the modules of the backend, loaded after [Modules].
func (d CDRDatabase) Modules() []Module {
	switch {
	case d.ODBC():
		return []Module{{"res_odbc.so", "ODBC connections (res_odbc.conf)"},
			{"cdr_adaptive_odbc.so", "CDRs into the service's cdr table (cdr_adaptive_odbc.conf)"}}
	case d.Kind == CDRPostgres:
		return []Module{{"cdr_pgsql.so", "CDRs into the service's cdr table (cdr_pgsql.conf)"}}
	}
	return nil
}

// ODBC reports that the backend is cdr_adaptive_odbc.
func (d CDRDatabase) ODBC() bool { return d.Kind == CDRMySQL || d.Kind == CDRSQLite }

// cdrFiles are the files of the backend, beyond Files.
func (d CDRDatabase) cdrFiles() []string {
	switch {
	case d.ODBC():
		return []string{"res_odbc.conf", "cdr_adaptive_odbc.conf", "odbc.ini"}
	case d.Kind == CDRPostgres:
		return []string{"cdr_pgsql.conf"}
	}
	return nil
}
