package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// recorder stands in for a testing.TB to observe whether a helper skips or fails. Like the real
// thing, Skipf and Fatalf end the calling goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// record runs f against a recorder on its own goroutine and reports what it did.
func record(t *testing.T, f func(testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestContainerdMissing(t *testing.T) {
	notSocket := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sock, ci string
		wantFailed     bool
	}{
		{"unset, CI", "", "true", true},
		{"unset, not CI", "", "", false},
		{"no such file, CI", "/nonexistent/containerd.sock", "true", true},
		{"not a socket, not CI", notSocket, "false", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvContainerd, tt.sock)
			t.Setenv("CI", tt.ci)
			returned := false
			r := record(t, func(tb testing.TB) {
				Containerd(tb)
				returned = true
			})
			if returned {
				t.Fatalf("Containerd returned with %s=%q; want it to end the test", EnvContainerd, tt.sock)
			}
			if r.failed != tt.wantFailed || r.skipped == tt.wantFailed {
				t.Errorf("Containerd with CI=%q: failed=%v skipped=%v, want failed=%v", tt.ci, r.failed, r.skipped, tt.wantFailed)
			}
			if !strings.Contains(r.msg, "tests/run.sh") {
				t.Errorf("message %q does not point to tests/run.sh", r.msg)
			}
		})
	}
}

func TestPostgresUnset(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv(EnvPostgres, "")
			t.Setenv("CI", ci)
			r := record(t, func(tb testing.TB) { Postgres(tb) })
			if want := ci == "true"; r.failed != want || r.skipped == want {
				t.Errorf("Postgres: failed=%v skipped=%v, want failed=%v", r.failed, r.skipped, want)
			}
		})
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:55432/db1?sslmode=disable"},
		{"postgresql://u:p@h/", "postgresql://u:p@h/db1"},
		{"postgres://h", "postgres://h/db1"},
		{"host=127.0.0.1 port=55432 dbname=postgres", "host=127.0.0.1 port=55432 dbname=postgres dbname=db1"},
	}
	for _, tt := range tests {
		got, err := withDatabase(tt.in, "db1")
		if err != nil || got != tt.want {
			t.Errorf("withDatabase(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			continue
		}
		// What a driver makes of it is what matters.
		cfg, err := pgx.ParseConfig(got)
		if err != nil {
			t.Errorf("pgx.ParseConfig(%q): %v", got, err)
		} else if cfg.Database != "db1" {
			t.Errorf("pgx.ParseConfig(%q).Database = %q, want db1", got, cfg.Database)
		}
	}
	if got, err := withDatabase("mysql://h/db", "db1"); err == nil {
		t.Errorf("withDatabase(mysql://...) = %q, want an error", got)
	}
}

func TestContainerd(t *testing.T) {
	sock := Containerd(t)
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("dial containerd: %v", err)
	}
	conn.Close()
}

func TestPostgres(t *testing.T) {
	Postgres(t) // ends the test here, like any user of Postgres, when there is no PostgreSQL
	admin := os.Getenv(EnvPostgres)
	var dsns []string
	parent := t
	t.Run("create", func(t *testing.T) {
		for range 2 {
			dsn := Postgres(t)
			dsns = append(dsns, dsn)
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			// Kept open until after the drop on purpose: the drop must not wait for it.
			parent.Cleanup(func() { db.Close() })
			if _, err := db.Exec("CREATE TABLE t (id int PRIMARY KEY)"); err != nil {
				t.Fatalf("create table in a fresh database: %v", err)
			}
		}
	})
	if len(dsns) != 2 {
		return // already failed
	}
	if dsns[0] == dsns[1] {
		t.Fatalf("two calls to Postgres returned the same DSN %q", dsns[0])
	}

	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dsn := range dsns {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", cfg.Database).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after its test ended", cfg.Database)
		}
	}
}

func TestRoot(t *testing.T) {
	Root(t)
	if os.Geteuid() != 0 {
		t.Fatal("Root returned for a process that is not root")
	}
}
