package store

import "time"

// The tables as the code uses them now. Migrations keep their own copies
// of the shapes they create, so these may change with a new migration.

type user struct {
	ID           int64
	Name         string
	Admin        bool
	PasswordHash string // Argon2id in PHC form; "" when the user has no password
	AppLimit     *int   // apps the user may own; nil: the server's default
	CreatedAt    time.Time
}

// session is a signed-in dashboard session; only the hash of its secret is
// kept.
type session struct {
	ID        int64
	Hash      string // hex SHA-256 of the cookie's secret
	UserID    int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

type token struct {
	ID          int64
	UserID      int64
	Hash        string // hex SHA-256 of the secret
	Prefix      string
	Description string
	CreatedAt   time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

type sshKey struct {
	ID          int64
	UserID      int64
	Fingerprint string
	Type        string
	Comment     string
	PublicKey   string
	CreatedAt   time.Time
}

func (sshKey) TableName() string { return "ssh_keys" }

type app struct {
	ID           int64
	Name         string
	OwnerID      int64
	ForceHTTPS   bool  `gorm:"column:force_https"`
	MaxBodyBytes int64 `gorm:"column:max_body_bytes"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

type collaborator struct {
	AppID     int64 `gorm:"primaryKey;autoIncrement:false"`
	UserID    int64 `gorm:"primaryKey;autoIncrement:false"`
	CreatedAt time.Time
}

type configVar struct {
	AppID int64  `gorm:"primaryKey;autoIncrement:false"`
	Key   string `gorm:"primaryKey"`
	Value string // sealed
}

type build struct {
	ID         int64
	AppID      int64
	Rev        string
	Status     string
	Image      string
	Digest     string
	CreatedBy  string
	CreatedAt  time.Time
	FinishedAt *time.Time
}

type release struct {
	ID           int64
	AppID        int64
	Version      int
	Image        string
	Digest       string
	BuildID      *int64
	ProcessTypes string // JSON object: type → command
	Config       string // sealed JSON object
	ConfigKeys   string // JSON array, sorted
	Status       string
	Reason       string
	Description  string
	CreatedBy    string
	CreatedAt    time.Time
}

type process struct {
	AppID    int64  `gorm:"primaryKey;autoIncrement:false"`
	Type     string `gorm:"primaryKey"`
	Quantity int
	Memory   int64
	CPU      int
	Pids     int64
}

type domain struct {
	ID        int64
	Name      string
	AppID     int64
	CreatedAt time.Time
}

type auditEvent struct {
	ID         int64
	Time       time.Time
	Actor      string
	Action     string
	App        string
	Detail     string
	RemoteAddr string
}

type healthCheck struct {
	AppID    int64  `gorm:"primaryKey;autoIncrement:false"`
	Type     string `gorm:"primaryKey"`
	Path     string
	Timeout  int // seconds per attempt
	Attempts int
}

type cert struct {
	ID        int64
	AppID     int64
	Name      string
	Domains   string // JSON array
	Issuer    string
	NotAfter  time.Time
	CertPEM   string
	KeySealed string
	CreatedAt time.Time
}
