package store

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"gorm.io/gorm"

	"paas/controller"
)

// Passwords are hashed with Argon2id (RFC 9106), from golang.org/x/crypto,
// which the Go team maintains and this module already depends on (for
// SSH). Argon2id is memory-hard, so a stolen database is expensive to
// guess against on GPUs, unlike a plain fast hash. The parameters are
// OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): about 30 ms on
// one core, which bounds sign-ins per second per core without a queue.
// They are stored with each hash in the PHC string format, so they can be
// raised later without invalidating stored passwords.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength and MaxPasswordLength bound a password, in bytes.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 1024
)

// SessionTTL is how long a dashboard session lasts after sign-in.
const SessionTTL = 12 * time.Hour

func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword tells whether password matches a hash made by
// hashPassword (with any parameters).
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem == 0 || t == 0 || p == 0 || mem > 1<<20 || t > 100 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when there is no such user, so that an
// unknown name takes as long to refuse as a wrong password.
var dummyHash = hashPassword("no such user: this hash only costs time")

func validatePassword(password string) error {
	switch {
	case len(password) < MinPasswordLength:
		return controller.Errorf(controller.ErrInvalid, "the password is too short: use at least %d characters", MinPasswordLength)
	case len(password) > MaxPasswordLength:
		return controller.Errorf(controller.ErrInvalid, "the password is longer than %d bytes", MaxPasswordLength)
	}
	return nil
}

// SetPassword sets a user's password (an empty one removes it: the user
// can then sign in with an API token only) and ends their sessions.
func (s *Store) SetPassword(ctx context.Context, who Actor, name, password string) error {
	hash := ""
	if password != "" {
		if err := validatePassword(password); err != nil {
			return err
		}
		if err := s.hash.do(ctx, func() { hash = hashPassword(password) }); err != nil {
			return err
		}
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		var u user
		if err := forUpdate(tx).Where("name = ?", name).Take(&u).Error; err != nil {
			return notFound(err, "no user named %s", name)
		}
		if err := tx.Model(&user{}).Where("id = ?", u.ID).Update("password_hash", hash).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", u.ID).Delete(&session{}).Error; err != nil {
			return err
		}
		what := "password set for " + name
		if hash == "" {
			what = "password removed for " + name
		}
		return audit(tx, who, "user.password", "", what)
	})
}

// CheckPassword returns the user a name and password belong to. A wrong
// password, an unknown user and a user without a password are all the same
// ErrUnauthorized, and take the same time. The hash waits for one of the
// store's hashing slots: ErrBusy if none frees in time.
func (s *Store) CheckPassword(ctx context.Context, name, password string) (Actor, error) {
	bad := controller.Errorf(controller.ErrUnauthorized, "wrong user name or password")
	if len(password) > MaxPasswordLength {
		return Actor{}, bad
	}
	var u user
	err := s.db.WithContext(ctx).Where("name = ?", name).Take(&u).Error
	if err != nil && err != gorm.ErrRecordNotFound {
		return Actor{}, err
	}
	hash := u.PasswordHash
	if err != nil || hash == "" {
		hash = dummyHash
	}
	var ok bool
	if err := s.hash.do(ctx, func() { ok = checkPassword(hash, password) }); err != nil {
		return Actor{}, err
	}
	if !ok || hash == dummyHash {
		return Actor{}, bad
	}
	return Actor{UserID: u.ID, Name: u.Name, Admin: u.Admin}, nil
}

// CreateSession starts a dashboard session for a user who has just proved
// who they are. It returns the session's secret (for the cookie; only its
// hash is stored) and when it expires. Expired sessions are deleted on the
// way.
func (s *Store) CreateSession(ctx context.Context, who Actor) (string, time.Time, error) {
	secret := newSecret()
	n := now()
	row := session{Hash: hashSecret(secret), UserID: who.UserID, CreatedAt: n, ExpiresAt: n.Add(SessionTTL)}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", n).Delete(&session{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return audit(tx, who, "session.create", "", "signed in to the dashboard")
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return secret, row.ExpiresAt, nil
}

// Session returns the user of a live session and when it expires. Unknown,
// expired and ended sessions are ErrUnauthorized.
func (s *Store) Session(ctx context.Context, secret string) (Actor, time.Time, error) {
	var row session
	err := s.db.WithContext(ctx).Where("hash = ?", hashSecret(secret)).Take(&row).Error
	if err == gorm.ErrRecordNotFound || err == nil && !row.ExpiresAt.After(time.Now()) {
		return Actor{}, time.Time{}, controller.Errorf(controller.ErrUnauthorized, "your session has ended: sign in again")
	}
	if err != nil {
		return Actor{}, time.Time{}, err
	}
	var u user
	if err := s.db.WithContext(ctx).Take(&u, row.UserID).Error; err != nil {
		if err == gorm.ErrRecordNotFound {
			return Actor{}, time.Time{}, controller.Errorf(controller.ErrUnauthorized, "the user of this session no longer exists")
		}
		return Actor{}, time.Time{}, err
	}
	return Actor{UserID: u.ID, Name: u.Name, Admin: u.Admin}, row.ExpiresAt, nil
}

// EndSession ends a session (sign-out). Ending one that is gone is not an
// error.
func (s *Store) EndSession(ctx context.Context, who Actor, secret string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Where("hash = ?", hashSecret(secret)).Delete(&session{})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return audit(tx, who, "session.end", "", "signed out of the dashboard")
	})
}
