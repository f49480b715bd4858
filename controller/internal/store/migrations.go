package store

import (
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migrations lists every schema change in order. Never edit or reorder a
// migration that has shipped: add a new one. Each runs in a transaction
// and is recorded in the table schema_migrations.
func migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{ID: "0001_initial", Migrate: migrateInitial},
		{ID: "0002_audit_append_only", Migrate: migrateAuditAppendOnly},
		{ID: "0003_health_checks", Migrate: migrateHealthChecks},
		{ID: "0004_certs", Migrate: migrateCerts},
		{ID: "0005_passwords_sessions", Migrate: migratePasswordsSessions},
		{ID: "0006_app_buildpacks", Migrate: migrateAppBuildpacks},
		{ID: "0007_app_http_settings", Migrate: migrateAppHTTPSettings},
		{ID: "0008_quotas", Migrate: migrateQuotas},
	}
}

func migrate(db *gorm.DB) error {
	m := gormigrate.New(db, &gormigrate.Options{
		TableName:                 "schema_migrations",
		IDColumnName:              "id",
		IDColumnSize:              255,
		UseTransaction:            true,
		ValidateUnknownMigrations: true, // refuse a database from a newer paas
	}, migrations())
	if err := m.Migrate(); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	return nil
}

// migrateInitial creates the first schema from snapshots of the models as
// they were then.
func migrateInitial(tx *gorm.DB) error {
	type user struct {
		ID        int64  `gorm:"primaryKey"`
		Name      string `gorm:"size:64;not null;uniqueIndex"`
		Admin     bool   `gorm:"not null"`
		CreatedAt time.Time
	}
	type token struct {
		ID          int64  `gorm:"primaryKey"`
		UserID      int64  `gorm:"not null;index"`
		Hash        string `gorm:"size:64;not null;uniqueIndex"`
		Prefix      string `gorm:"size:32;not null"`
		Description string `gorm:"size:256;not null"`
		CreatedAt   time.Time
		LastUsedAt  *time.Time
		RevokedAt   *time.Time
	}
	type sshKey struct {
		ID          int64  `gorm:"primaryKey"`
		UserID      int64  `gorm:"not null;index"`
		Fingerprint string `gorm:"size:128;not null;uniqueIndex"`
		Type        string `gorm:"size:64;not null"`
		Comment     string `gorm:"size:256;not null"`
		PublicKey   string `gorm:"not null"`
		CreatedAt   time.Time
	}
	type app struct {
		ID        int64  `gorm:"primaryKey"`
		Name      string `gorm:"size:64;not null;uniqueIndex"`
		OwnerID   int64  `gorm:"not null;index"`
		CreatedAt time.Time
		UpdatedAt time.Time
	}
	type collaborator struct {
		AppID     int64 `gorm:"primaryKey;autoIncrement:false"`
		UserID    int64 `gorm:"primaryKey;autoIncrement:false;index"`
		CreatedAt time.Time
	}
	type configVar struct {
		AppID int64  `gorm:"primaryKey;autoIncrement:false"`
		Key   string `gorm:"primaryKey;size:256"`
		Value string `gorm:"not null"`
	}
	type build struct {
		ID         int64  `gorm:"primaryKey"`
		AppID      int64  `gorm:"not null;index"`
		Rev        string `gorm:"size:64;not null"`
		Status     string `gorm:"size:16;not null"`
		Image      string `gorm:"size:512;not null"`
		Digest     string `gorm:"size:128;not null"`
		CreatedBy  string `gorm:"size:64;not null"`
		CreatedAt  time.Time
		FinishedAt *time.Time
	}
	type release struct {
		ID           int64  `gorm:"primaryKey"`
		AppID        int64  `gorm:"not null;uniqueIndex:idx_release_app_version"`
		Version      int    `gorm:"not null;uniqueIndex:idx_release_app_version"`
		Image        string `gorm:"size:512;not null"`
		Digest       string `gorm:"size:128;not null"`
		BuildID      *int64
		ProcessTypes string `gorm:"not null"`
		Config       string `gorm:"not null"`
		ConfigKeys   string `gorm:"not null"`
		Status       string `gorm:"size:16;not null"`
		Reason       string `gorm:"not null"`
		Description  string `gorm:"size:512;not null"`
		CreatedBy    string `gorm:"size:64;not null"`
		CreatedAt    time.Time
	}
	type process struct {
		AppID    int64  `gorm:"primaryKey;autoIncrement:false"`
		Type     string `gorm:"primaryKey;size:64"`
		Quantity int    `gorm:"not null"`
		Memory   int64  `gorm:"not null"`
		CPU      int    `gorm:"not null"`
	}
	type domain struct {
		ID        int64  `gorm:"primaryKey"`
		Name      string `gorm:"size:255;not null;uniqueIndex"`
		AppID     int64  `gorm:"not null;index"`
		CreatedAt time.Time
	}
	type auditEvent struct {
		ID         int64     `gorm:"primaryKey"`
		Time       time.Time `gorm:"not null;index"`
		Actor      string    `gorm:"size:64;not null;index"`
		Action     string    `gorm:"size:64;not null"`
		App        string    `gorm:"size:64;not null;index"`
		Detail     string    `gorm:"not null"`
		RemoteAddr string    `gorm:"size:128;not null"`
	}
	tables := []struct {
		name  string
		model any
	}{
		{"users", &user{}}, {"tokens", &token{}}, {"ssh_keys", &sshKey{}},
		{"apps", &app{}}, {"collaborators", &collaborator{}}, {"config_vars", &configVar{}},
		{"builds", &build{}}, {"releases", &release{}}, {"processes", &process{}},
		{"domains", &domain{}}, {"audit_events", &auditEvent{}},
	}
	for _, t := range tables {
		if err := tx.Table(t.name).Migrator().CreateTable(t.model); err != nil {
			return fmt.Errorf("create table %s: %w", t.name, err)
		}
	}
	return nil
}

// migrateAuditAppendOnly makes the database itself refuse to change or
// delete audit events.
func migrateAuditAppendOnly(tx *gorm.DB) error {
	var stmts []string
	switch tx.Dialector.Name() {
	case "sqlite":
		stmts = []string{
			`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
			 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
			`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
			 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END`,
		}
	case "postgres":
		stmts = []string{
			`CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS
			 $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$`,
			`CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
			 FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`,
		}
	default:
		return fmt.Errorf("unsupported database %s", tx.Dialector.Name())
	}
	for _, s := range stmts {
		if err := tx.Exec(s).Error; err != nil {
			return err
		}
	}
	return nil
}

// migrateHealthChecks adds per-app, per-process-type health checks.
func migrateHealthChecks(tx *gorm.DB) error {
	type healthCheck struct {
		AppID    int64  `gorm:"primaryKey;autoIncrement:false"`
		Type     string `gorm:"primaryKey;size:64"`
		Path     string `gorm:"size:512;not null"`
		Timeout  int    `gorm:"not null"`
		Attempts int    `gorm:"not null"`
	}
	return tx.Table("health_checks").Migrator().CreateTable(&healthCheck{})
}

// migrateCerts adds TLS certificates (keys sealed like config values).
func migrateCerts(tx *gorm.DB) error {
	type cert struct {
		ID        int64  `gorm:"primaryKey"`
		AppID     int64  `gorm:"not null;uniqueIndex:idx_cert_app_name"`
		Name      string `gorm:"size:255;not null;uniqueIndex:idx_cert_app_name"`
		Domains   string `gorm:"not null"` // JSON array
		Issuer    string `gorm:"size:512;not null"`
		NotAfter  time.Time
		CertPEM   string `gorm:"not null"`
		KeySealed string `gorm:"not null"`
		CreatedAt time.Time
	}
	return tx.Table("certs").Migrator().CreateTable(&cert{})
}

// migratePasswordsSessions adds users' password hashes and the dashboard's
// sessions.
func migratePasswordsSessions(tx *gorm.DB) error {
	type user struct {
		PasswordHash string `gorm:"size:256;not null;default:''"`
	}
	if err := tx.Table("users").Migrator().AddColumn(&user{}, "PasswordHash"); err != nil {
		return fmt.Errorf("add users.password_hash: %w", err)
	}
	type session struct {
		ID        int64  `gorm:"primaryKey"`
		Hash      string `gorm:"size:64;not null;uniqueIndex"`
		UserID    int64  `gorm:"not null;index"`
		CreatedAt time.Time
		ExpiresAt time.Time `gorm:"not null;index"`
	}
	return tx.Table("sessions").Migrator().CreateTable(&session{})
}

// migrateAppHTTPSettings adds an app's HTTP settings for the router:
// redirect to HTTPS, and its request body limit.
func migrateAppHTTPSettings(tx *gorm.DB) error {
	type app struct {
		ForceHTTPS   bool  `gorm:"column:force_https;not null;default:false"`
		MaxBodyBytes int64 `gorm:"column:max_body_bytes;not null;default:0"`
	}
	for _, f := range []string{"ForceHTTPS", "MaxBodyBytes"} {
		if err := tx.Table("apps").Migrator().AddColumn(&app{}, f); err != nil {
			return fmt.Errorf("add apps.%s: %w", f, err)
		}
	}
	return nil
}

// migrateQuotas adds a user's own app limit, set by an admin (NULL: the
// server's default), and a process type's pids limit (0: the server's
// default).
func migrateQuotas(tx *gorm.DB) error {
	type user struct {
		AppLimit *int `gorm:"column:app_limit"`
	}
	if err := tx.Table("users").Migrator().AddColumn(&user{}, "AppLimit"); err != nil {
		return fmt.Errorf("add users.app_limit: %w", err)
	}
	type process struct {
		Pids int64 `gorm:"not null;default:0"`
	}
	if err := tx.Table("processes").Migrator().AddColumn(&process{}, "Pids"); err != nil {
		return fmt.Errorf("add processes.pids: %w", err)
	}
	return nil
}
