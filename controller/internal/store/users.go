package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"paas/controller"
)

// BootstrapUser is the name of the admin the first start creates.
const BootstrapUser = "admin"

// BootstrapTokenDescription marks the token made by Bootstrap.
const BootstrapTokenDescription = "bootstrap"

// newSecret makes a token secret: "paas_" and 32 random bytes in base32.
func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return "paas_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// hashSecret is how a token is stored. The secret has 256 random bits, so
// a fast hash is enough: there is nothing to guess.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func userOut(u user) controller.User {
	return controller.User{Name: u.Name, Admin: u.Admin, CreatedAt: u.CreatedAt, HasPassword: u.PasswordHash != ""}
}

func tokenOut(t token) controller.Token {
	return controller.Token{ID: t.ID, Description: t.Description, Prefix: t.Prefix, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt}
}

func createToken(tx *gorm.DB, userID int64, description string) (controller.NewToken, error) {
	secret := newSecret()
	t := token{UserID: userID, Hash: hashSecret(secret), Prefix: secret[:12], Description: description, CreatedAt: now()}
	if err := tx.Create(&t).Error; err != nil {
		return controller.NewToken{}, err
	}
	return controller.NewToken{Token: tokenOut(t), Secret: secret}, nil
}

// Bootstrap creates the first admin and a token for it when there are no
// users at all. keep is called with the token's secret before the
// transaction commits, so the secret is saved (or shown) before the admin
// exists; if keep fails, nothing is created. Bootstrap reports whether it
// created the admin.
func (s *Store) Bootstrap(ctx context.Context, keep func(secret string) error) (bool, error) {
	created := false
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&user{}).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		u := user{Name: BootstrapUser, Admin: true, CreatedAt: now()}
		if err := tx.Create(&u).Error; err != nil {
			return err
		}
		t, err := createToken(tx, u.ID, BootstrapTokenDescription)
		if err != nil {
			return err
		}
		if err := audit(tx, Actor{Name: "paas"}, "user.create", "", "bootstrap admin "+u.Name); err != nil {
			return err
		}
		if err := keep(t.Secret); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

// Authenticate finds the user a token secret belongs to. Unknown and
// revoked tokens are ErrUnauthorized. It also returns the token.
func (s *Store) Authenticate(ctx context.Context, secret string) (Actor, controller.Token, error) {
	var t token
	err := s.db.WithContext(ctx).Where("hash = ?", hashSecret(secret)).Take(&t).Error
	if err != nil {
		if err == gorm.ErrRecordNotFound {
			return Actor{}, controller.Token{}, controller.Errorf(controller.ErrUnauthorized, "invalid API token")
		}
		return Actor{}, controller.Token{}, err
	}
	if t.RevokedAt != nil {
		return Actor{}, controller.Token{}, controller.Errorf(controller.ErrUnauthorized, "this API token was revoked")
	}
	var u user
	if err := s.db.WithContext(ctx).Take(&u, t.UserID).Error; err != nil {
		return Actor{}, controller.Token{}, notFound(err, "the user of this token no longer exists")
	}
	// Record use at most once a minute, to keep reads from writing.
	if t.LastUsedAt == nil || time.Since(*t.LastUsedAt) > time.Minute {
		n := now()
		s.db.WithContext(ctx).Model(&token{}).Where("id = ?", t.ID).Update("last_used_at", n)
		t.LastUsedAt = &n
	}
	return Actor{UserID: u.ID, Name: u.Name, Admin: u.Admin}, tokenOut(t), nil
}

// User returns a user by name.
func (s *Store) User(ctx context.Context, name string) (controller.User, error) {
	var u user
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&u).Error; err != nil {
		return controller.User{}, notFound(err, "no user named %s", name)
	}
	return userOut(u), nil
}

// Users lists all users by name.
func (s *Store) Users(ctx context.Context) ([]controller.User, error) {
	var us []user
	if err := s.db.WithContext(ctx).Order("name").Find(&us).Error; err != nil {
		return nil, err
	}
	out := make([]controller.User, 0, len(us))
	for _, u := range us {
		out = append(out, userOut(u))
	}
	return out, nil
}

// CreateUser creates a user and a first API token for them.
func (s *Store) CreateUser(ctx context.Context, who Actor, nu controller.NewUser) (controller.CreatedUser, error) {
	if err := controller.ValidateUserName(nu.Name); err != nil {
		return controller.CreatedUser{}, err
	}
	var hash string
	if nu.Password != "" {
		if err := validatePassword(nu.Password); err != nil {
			return controller.CreatedUser{}, err
		}
		if err := s.hash.do(ctx, func() { hash = hashPassword(nu.Password) }); err != nil {
			return controller.CreatedUser{}, err
		}
	}
	var out controller.CreatedUser
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&user{}).Where("name = ?", nu.Name).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return controller.Errorf(controller.ErrConflict, "user %s already exists", nu.Name)
		}
		u := user{Name: nu.Name, Admin: nu.Admin, CreatedAt: now(), PasswordHash: hash}
		if err := tx.Create(&u).Error; err != nil {
			if isDuplicate(err) {
				return controller.Errorf(controller.ErrConflict, "user %s already exists", nu.Name)
			}
			return err
		}
		t, err := createToken(tx, u.ID, "first token, made by "+who.Name)
		if err != nil {
			return err
		}
		detail := "user " + u.Name
		if u.Admin {
			detail += " (admin)"
		}
		out = controller.CreatedUser{User: userOut(u), Token: t}
		return audit(tx, who, "user.create", "", detail)
	})
	return out, err
}

// DeleteUser deletes a user with their tokens, keys and collaborations. A
// user who owns apps cannot be deleted, nor the last admin.
func (s *Store) DeleteUser(ctx context.Context, who Actor, name string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var u user
		if err := forUpdate(tx).Where("name = ?", name).Take(&u).Error; err != nil {
			return notFound(err, "no user named %s", name)
		}
		var owned []string
		if err := tx.Model(&app{}).Where("owner_id = ?", u.ID).Order("name").Pluck("name", &owned).Error; err != nil {
			return err
		}
		if len(owned) > 0 {
			return controller.Errorf(controller.ErrConflict, "user %s owns apps (%s): destroy them first", name, strings.Join(owned, ", "))
		}
		if u.Admin {
			var admins int64
			if err := tx.Model(&user{}).Where("admin = ?", true).Count(&admins).Error; err != nil {
				return err
			}
			if admins <= 1 {
				return controller.Errorf(controller.ErrConflict, "user %s is the last admin", name)
			}
		}
		for _, m := range []any{&token{}, &sshKey{}, &collaborator{}, &session{}} {
			if err := tx.Where("user_id = ?", u.ID).Delete(m).Error; err != nil {
				return err
			}
		}
		if err := tx.Delete(&u).Error; err != nil {
			return err
		}
		return audit(tx, who, "user.delete", "", "user "+name)
	})
}

// Tokens lists a user's tokens that are not revoked.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]controller.Token, error) {
	var ts []token
	if err := s.db.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL", userID).Order("id").Find(&ts).Error; err != nil {
		return nil, err
	}
	out := make([]controller.Token, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenOut(t))
	}
	return out, nil
}

// CreateToken makes a new token for the acting user.
func (s *Store) CreateToken(ctx context.Context, who Actor, description string) (controller.NewToken, error) {
	if len(description) > 256 {
		return controller.NewToken{}, controller.Errorf(controller.ErrInvalid, "token description is longer than 256 characters")
	}
	var out controller.NewToken
	err := s.tx(ctx, func(tx *gorm.DB) error {
		t, err := createToken(tx, who.UserID, description)
		if err != nil {
			return err
		}
		out = t
		return audit(tx, who, "token.create", "", fmt.Sprintf("token %d (%s)", t.ID, t.Prefix))
	})
	return out, err
}

// RevokeToken revokes one of the acting user's tokens.
func (s *Store) RevokeToken(ctx context.Context, who Actor, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&token{}).Where("id = ? AND user_id = ? AND revoked_at IS NULL", id, who.UserID).Update("revoked_at", now())
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return controller.Errorf(controller.ErrNotFound, "you have no token %d", id)
		}
		return audit(tx, who, "token.revoke", "", fmt.Sprintf("token %d", id))
	})
}

func keyOut(k sshKey, userName string) controller.Key {
	return controller.Key{ID: k.ID, Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment, PublicKey: k.PublicKey, User: userName, CreatedAt: k.CreatedAt}
}

// Keys lists a user's SSH keys.
func (s *Store) Keys(ctx context.Context, who Actor) ([]controller.Key, error) {
	var ks []sshKey
	if err := s.db.WithContext(ctx).Where("user_id = ?", who.UserID).Order("id").Find(&ks).Error; err != nil {
		return nil, err
	}
	out := make([]controller.Key, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyOut(k, who.Name))
	}
	return out, nil
}

// AddKey adds a parsed SSH key to the acting user. A fingerprint may
// belong to one user only.
func (s *Store) AddKey(ctx context.Context, who Actor, k controller.Key) (controller.Key, error) {
	var out controller.Key
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var existing sshKey
		err := tx.Where("fingerprint = ?", k.Fingerprint).Take(&existing).Error
		if err == nil {
			if existing.UserID == who.UserID {
				return controller.Errorf(controller.ErrConflict, "you already added key %s", k.Fingerprint)
			}
			return controller.Errorf(controller.ErrConflict, "key %s belongs to another user", k.Fingerprint)
		}
		if err != gorm.ErrRecordNotFound {
			return err
		}
		row := sshKey{UserID: who.UserID, Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment, PublicKey: k.PublicKey, CreatedAt: now()}
		if err := tx.Create(&row).Error; err != nil {
			if isDuplicate(err) {
				return controller.Errorf(controller.ErrConflict, "key %s is already registered", k.Fingerprint)
			}
			return err
		}
		out = keyOut(row, who.Name)
		return audit(tx, who, "key.add", "", k.Fingerprint+" "+k.Comment)
	})
	return out, err
}

// RemoveKey removes one of the acting user's keys.
func (s *Store) RemoveKey(ctx context.Context, who Actor, id int64) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		var k sshKey
		if err := tx.Where("id = ? AND user_id = ?", id, who.UserID).Take(&k).Error; err != nil {
			return notFound(err, "you have no key %d", id)
		}
		if err := tx.Delete(&k).Error; err != nil {
			return err
		}
		return audit(tx, who, "key.remove", "", k.Fingerprint)
	})
}

// KeyOwner returns the user an SSH key fingerprint belongs to.
func (s *Store) KeyOwner(ctx context.Context, fingerprint string) (Actor, error) {
	var k sshKey
	if err := s.db.WithContext(ctx).Where("fingerprint = ?", fingerprint).Take(&k).Error; err != nil {
		return Actor{}, notFound(err, "unknown SSH key %s", fingerprint)
	}
	var u user
	if err := s.db.WithContext(ctx).Take(&u, k.UserID).Error; err != nil {
		return Actor{}, notFound(err, "unknown SSH key %s", fingerprint)
	}
	return Actor{UserID: u.ID, Name: u.Name, Admin: u.Admin}, nil
}

// UserID returns a user's ID, for acting as them.
func (s *Store) UserID(ctx context.Context, name string) (int64, error) {
	var u user
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&u).Error; err != nil {
		return 0, notFound(err, "no user named %s", name)
	}
	return u.ID, nil
}

// appLimit is the app limit in effect for u: their own, else the
// server's default; nil when there is none (admins have none).
func (s *Store) appLimit(u user) *int {
	switch {
	case u.Admin:
		return nil
	case u.AppLimit != nil:
		return u.AppLimit
	case s.quotas.AppLimit > 0:
		n := s.quotas.AppLimit
		return &n
	}
	return nil
}

// checkAppLimit refuses a new app to a user who owns as many as they
// may. The user's row stays locked until the transaction ends, so two
// creations at once cannot both pass.
func (s *Store) checkAppLimit(tx *gorm.DB, who Actor) error {
	var u user
	if err := forUpdate(tx).Take(&u, who.UserID).Error; err != nil {
		return notFound(err, "no user %s", who.Name)
	}
	limit := s.appLimit(u)
	if limit == nil {
		return nil
	}
	var owned int64
	if err := tx.Model(&app{}).Where("owner_id = ?", u.ID).Count(&owned).Error; err != nil {
		return err
	}
	if owned >= int64(*limit) {
		return controller.Errorf(controller.ErrForbidden, "you own %d apps, the most you may (your limit is %d): destroy one, or ask an admin to raise your limit", owned, *limit)
	}
	return nil
}

// UserQuota returns a user's limits and what they use of them.
func (s *Store) UserQuota(ctx context.Context, name string) (controller.UserQuota, error) {
	return s.userQuota(s.db.WithContext(ctx), name)
}

func (s *Store) userQuota(tx *gorm.DB, name string) (controller.UserQuota, error) {
	var u user
	if err := tx.Where("name = ?", name).Take(&u).Error; err != nil {
		return controller.UserQuota{}, notFound(err, "no user named %s", name)
	}
	var owned int64
	if err := tx.Model(&app{}).Where("owner_id = ?", u.ID).Count(&owned).Error; err != nil {
		return controller.UserQuota{}, err
	}
	return controller.UserQuota{User: u.Name, Apps: u.AppLimit, AppLimit: s.appLimit(u), AppsOwned: int(owned)}, nil
}

// SetUserLimits sets a user's own limits; a nil Apps gives them the
// server's default again. Apps they own beyond a lowered limit stay.
func (s *Store) SetUserLimits(ctx context.Context, who Actor, name string, l controller.UserLimits) (controller.UserQuota, error) {
	if l.Apps != nil && (*l.Apps < 0 || *l.Apps > controller.MaxUserAppLimit) {
		return controller.UserQuota{}, controller.Errorf(controller.ErrInvalid, "app limit %d: must be between 0 and %d", *l.Apps, controller.MaxUserAppLimit)
	}
	var out controller.UserQuota
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var u user
		if err := forUpdate(tx).Where("name = ?", name).Take(&u).Error; err != nil {
			return notFound(err, "no user named %s", name)
		}
		if err := tx.Model(&user{}).Where("id = ?", u.ID).Update("app_limit", l.Apps).Error; err != nil {
			return err
		}
		detail := "apps=default"
		if l.Apps != nil {
			detail = fmt.Sprintf("apps=%d", *l.Apps)
		}
		if err := audit(tx, who, "user.limits", "", "user "+name+" "+detail); err != nil {
			return err
		}
		var err error
		out, err = s.userQuota(tx, name)
		return err
	})
	return out, err
}
