// Package testenv hands tests the real parts they run against — a private containerd, a private
// PostgreSQL, root privileges — as set up by tests/run.sh, and decides what a test does when one
// is missing: with CI=true in the environment it fails, so a broken CI machine can never pass by
// skipping everything; elsewhere it skips, with a hint to run the suite through tests/run.sh.
//
// tests/run.sh starts the daemons and exports their addresses:
//
//	PAAS_TEST_CONTAINERD  path of the private containerd's gRPC socket
//	PAAS_TEST_POSTGRES    DSN of the private PostgreSQL's maintenance database
//
// Only tests import this package; that is why it may read the environment.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Environment variables set by tests/run.sh.
const (
	EnvContainerd = "PAAS_TEST_CONTAINERD"
	EnvPostgres   = "PAAS_TEST_POSTGRES"
)

// dbTimeout bounds each administrative round trip to PostgreSQL (create, drop).
const dbTimeout = 30 * time.Second

// Containerd returns the path of the test containerd's socket, from $PAAS_TEST_CONTAINERD. If it
// is unset or names no socket, the test fails under CI and is skipped otherwise.
//
// The daemon is shared by every test package of a run: use a namespace or names of your own and
// delete what you create.
func Containerd(t testing.TB) string {
	t.Helper()
	sock := os.Getenv(EnvContainerd)
	if sock == "" {
		unavailable(t, ci(), EnvContainerd+" is not set, so there is no containerd to test against")
		return ""
	}
	fi, err := os.Stat(sock)
	if err != nil {
		unavailable(t, ci(), fmt.Sprintf("%s: %v", EnvContainerd, err))
		return ""
	}
	if fi.Mode().Type() != os.ModeSocket {
		unavailable(t, ci(), fmt.Sprintf("%s=%s is not a socket", EnvContainerd, sock))
		return ""
	}
	return sock
}

// Postgres creates a fresh, empty database on the test PostgreSQL named by $PAAS_TEST_POSTGRES
// and returns its DSN. The database is dropped when the test ends, even if connections to it are
// still open. If the variable is unset or the server does not answer, the test fails under CI
// and is skipped otherwise.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		unavailable(t, ci(), EnvPostgres+" is not set, so there is no PostgreSQL to test against")
		return ""
	}
	name := "paas_test_" + randomHex(8)
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvPostgres, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("testenv: %s: %v", EnvPostgres, err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		unavailable(t, ci(), fmt.Sprintf("%s: PostgreSQL does not answer: %v", EnvPostgres, err))
		return ""
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}

	t.Cleanup(func() {
		// The test's own context is already cancelled here: use a fresh one.
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// Root fails the test under CI, and skips it otherwise, unless the process runs as root.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, ci(), fmt.Sprintf("this test needs root (euid is %d)", os.Geteuid()))
	}
}

// ci reports whether the environment says this is a CI run (CI=true, as CI services set it).
func ci() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// unavailable ends the test because a part it needs is missing: a failure in CI, a skip
// elsewhere. Like t.Fatal and t.Skip, it does not return.
func unavailable(t testing.TB, ci bool, why string) {
	t.Helper()
	if ci {
		t.Fatalf("testenv: %s (CI=true: a missing test dependency is a failure; run the suite with tests/run.sh)", why)
	}
	t.Skipf("testenv: %s; run the suite as root with tests/run.sh to get it", why)
}

// withDatabase returns dsn with its database name replaced by name. It accepts both DSN forms
// PostgreSQL clients do: a postgres:// URL and a "key=value ..." string.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	if strings.Contains(dsn, "://") {
		return "", fmt.Errorf("unsupported DSN scheme in %q", dsn)
	}
	// In the key=value form a later setting overrides an earlier one.
	return strings.TrimSpace(dsn + " dbname=" + name), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand.Read panics instead)
	return hex.EncodeToString(b)
}
