// Package store keeps the controller's state in a SQL database through
// gorm: SQLite (pure Go, WAL) by default, PostgreSQL when given a
// postgres:// DSN. It is the only package that imports gorm.
//
// Every method that changes state runs in one transaction together with
// its audit event, so a change is either wholly recorded, audit entry
// included, or not at all. Config var values, and the config snapshot of
// every release, are sealed (AES-GCM) before they reach the database.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"paas/controller"
	"paas/controller/internal/seal"
)

// Store is the controller's state. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	sealer  *seal.Sealer
	dialect string  // "sqlite" or "postgres"
	hash    *hasher // bounds concurrent password hashes
	quotas  controller.Quotas
}

// SetQuotas sets the operator's limits that Scale and CreateApp enforce.
// Call it before the store is used.
func (s *Store) SetQuotas(q controller.Quotas) {
	if q.MaxMemory == 0 {
		q.MaxMemory = MaxMemory
	}
	if q.MaxCPU == 0 {
		q.MaxCPU = MaxCPU
	}
	if q.MaxPids == 0 {
		q.MaxPids = MaxPids
	}
	if q.MaxProcessInstances == 0 {
		q.MaxProcessInstances = MaxQuantity
	}
	s.quotas = q
}

// Actor is who makes a change, as the audit log records it.
type Actor struct {
	UserID int64
	Name   string
	Admin  bool
	Addr   string // remote address of the request, if any
}

// IsPostgres reports whether dsn names a PostgreSQL database rather than a
// SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens (creating if need be) the database at dsn — a SQLite file
// path or a postgres:// URL — and brings its schema up to date.
func Open(ctx context.Context, dsn string, sealer *seal.Sealer) (*Store, error) {
	cfg := &gorm.Config{
		Logger:         logger.Discard,
		TranslateError: true,
		NowFunc:        now,
	}
	var (
		db      *gorm.DB
		err     error
		dialect string
	)
	if IsPostgres(dsn) {
		dialect = "postgres"
		db, err = gorm.Open(postgres.Open(dsn), cfg)
	} else {
		dialect = "sqlite"
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, err
		}
		// Create the file readable by its owner only; SQLite gives its
		// -wal and -shm files the database file's mode.
		f, ferr := os.OpenFile(dsn, os.O_RDWR|os.O_CREATE, 0o600)
		if ferr != nil {
			return nil, fmt.Errorf("open sqlite database: %w", ferr)
		}
		f.Close()
		db, err = gorm.Open(sqlite.Open(sqliteDSN(dsn)), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	s := &Store{db: db, sealer: sealer, dialect: dialect, hash: newHasher(0, HashWait)}
	s.SetQuotas(controller.Quotas{})
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if err := migrate(db.WithContext(ctx)); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN adds the settings paas relies on to a SQLite file path: WAL
// so readers never wait for the writer, a busy timeout, foreign keys,
// synchronous=NORMAL (durable across a crash of the process; WAL makes it
// safe), and immediate transactions so that concurrent read-then-write
// transactions queue for the write lock instead of failing with BUSY.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// now is the store's clock: UTC, at the microsecond precision both
// databases keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Close closes the database.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Dialect names the database in use: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// tx runs fn in a transaction.
func (s *Store) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.db.WithContext(ctx).Transaction(fn)
}

// audit records a state change inside the transaction making it.
func audit(tx *gorm.DB, who Actor, action, appName, detail string) error {
	ev := auditEvent{
		Time:       now(),
		Actor:      who.Name,
		Action:     action,
		App:        appName,
		Detail:     detail,
		RemoteAddr: who.Addr,
	}
	if err := tx.Create(&ev).Error; err != nil {
		return fmt.Errorf("record audit event: %w", err)
	}
	return nil
}

// forUpdate locks the selected rows until the transaction ends, on
// PostgreSQL; SQLite's immediate transactions already hold the only write
// lock.
func forUpdate(tx *gorm.DB) *gorm.DB {
	if tx.Dialector.Name() == "postgres" {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// isDuplicate reports whether err is a unique-constraint violation.
func isDuplicate(err error) bool {
	return errors.Is(err, gorm.ErrDuplicatedKey)
}

// notFound turns gorm's not-found into the controller's, with a message.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return controller.Errorf(controller.ErrNotFound, format, args...)
	}
	return err
}
