package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"paas/controller"
)

// Role is what a user is to an app.
type Role int

// Roles, weakest first.
const (
	RoleNone Role = iota
	RoleCollaborator
	RoleOwner
)

// appRow is an app with its owner's name and current release version.
type appRow struct {
	ID           int64
	Name         string
	OwnerID      int64
	ForceHTTPS   bool  `gorm:"column:force_https"`
	MaxBodyBytes int64 `gorm:"column:max_body_bytes"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Owner        string
	Release      int
}

// currentVersionSQL picks an app's current release: the newest one that
// did not fail.
const currentVersionSQL = `(SELECT COALESCE(MAX(r.version), 0) FROM releases r WHERE r.app_id = apps.id AND r.status <> 'failed')`

func appsQuery(tx *gorm.DB) *gorm.DB {
	return tx.Table("apps").
		Select("apps.*, users.name AS owner, " + currentVersionSQL + " AS release").
		Joins("JOIN users ON users.id = apps.owner_id")
}

func appOut(a appRow) controller.App {
	return controller.App{Name: a.Name, Owner: a.Owner, Release: a.Release, ForceHTTPS: a.ForceHTTPS, MaxBodyBytes: a.MaxBodyBytes, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// lockApp finds an app by name and, on PostgreSQL, locks its row so that
// changes to one app (release numbers above all) happen one at a time.
func lockApp(tx *gorm.DB, name string) (app, error) {
	var a app
	if err := forUpdate(tx).Where("name = ?", name).Take(&a).Error; err != nil {
		return app{}, notFound(err, "no app named %s", name)
	}
	return a, nil
}

func touch(tx *gorm.DB, a app) error {
	return tx.Model(&app{}).Where("id = ?", a.ID).Update("updated_at", now()).Error
}

// Apps lists the apps a user may see: every app for an admin, else the
// apps they own or collaborate on.
func (s *Store) Apps(ctx context.Context, who Actor) ([]controller.App, error) {
	q := appsQuery(s.db.WithContext(ctx))
	if !who.Admin {
		q = q.Where("apps.owner_id = ? OR apps.id IN (SELECT app_id FROM collaborators WHERE user_id = ?)", who.UserID, who.UserID)
	}
	var rows []appRow
	if err := q.Order("apps.name").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]controller.App, 0, len(rows))
	for _, r := range rows {
		out = append(out, appOut(r))
	}
	return out, nil
}

// App returns one app.
func (s *Store) App(ctx context.Context, name string) (controller.App, error) {
	var rows []appRow
	if err := appsQuery(s.db.WithContext(ctx)).Where("apps.name = ?", name).Limit(1).Scan(&rows).Error; err != nil {
		return controller.App{}, err
	}
	if len(rows) == 0 {
		return controller.App{}, controller.Errorf(controller.ErrNotFound, "no app named %s", name)
	}
	return appOut(rows[0]), nil
}

// Access tells what a user is to an app. A missing app is ErrNotFound.
func (s *Store) Access(ctx context.Context, who Actor, appName string) (Role, error) {
	var a app
	if err := s.db.WithContext(ctx).Where("name = ?", appName).Take(&a).Error; err != nil {
		return RoleNone, notFound(err, "no app named %s", appName)
	}
	if a.OwnerID == who.UserID {
		return RoleOwner, nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&collaborator{}).Where("app_id = ? AND user_id = ?", a.ID, who.UserID).Count(&n).Error; err != nil {
		return RoleNone, err
	}
	if n > 0 {
		return RoleCollaborator, nil
	}
	return RoleNone, nil
}

// Words for names chosen by the server, Heroku style: "quiet-river-4821".
var (
	nameAdjectives = []string{"amber", "bold", "calm", "dark", "eager", "fancy", "gentle", "happy", "icy", "jolly", "keen", "lively", "misty", "noble", "odd", "proud", "quiet", "rapid", "shiny", "tidy", "vast", "warm", "young", "zesty"}
	nameNouns      = []string{"anchor", "brook", "cloud", "dawn", "ember", "forest", "grove", "harbor", "island", "lake", "meadow", "night", "ocean", "peak", "river", "shore", "stone", "tide", "valley", "wave"}
)

func pick(words []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	if err != nil {
		panic(err)
	}
	return words[n.Int64()]
}

func randomAppName() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(9000))
	return fmt.Sprintf("%s-%s-%d", pick(nameAdjectives), pick(nameNouns), 1000+n.Int64())
}

// CreateApp creates an app owned by the acting user. An empty name picks
// a free random one.
func (s *Store) CreateApp(ctx context.Context, who Actor, name string) (controller.App, error) {
	pickName := name == ""
	if !pickName {
		if err := controller.ValidateNewAppName(name); err != nil {
			return controller.App{}, err
		}
	}
	var out controller.App
	err := s.tx(ctx, func(tx *gorm.DB) error {
		for try := 0; ; try++ {
			if pickName {
				name = randomAppName()
			}
			var n int64
			if err := tx.Model(&app{}).Where("name = ?", name).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				break
			}
			if !pickName || try > 20 {
				return controller.Errorf(controller.ErrConflict, "app %s already exists", name)
			}
		}
		if err := s.checkAppLimit(tx, who); err != nil {
			return err
		}
		t := now()
		a := app{Name: name, OwnerID: who.UserID, CreatedAt: t, UpdatedAt: t}
		if err := tx.Create(&a).Error; err != nil {
			if isDuplicate(err) {
				return controller.Errorf(controller.ErrConflict, "app %s already exists", name)
			}
			return err
		}
		out = controller.App{Name: a.Name, Owner: who.Name, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
		return audit(tx, who, "app.create", a.Name, "")
	})
	return out, err
}

// DestroyApp deletes an app and all that belongs to it. The audit log
// keeps its history.
func (s *Store) DestroyApp(ctx context.Context, who Actor, name string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, name)
		if err != nil {
			return err
		}
		for _, m := range []any{&collaborator{}, &configVar{}, &build{}, &release{}, &process{}, &domain{}, &healthCheck{}, &cert{}, &appBuildpack{}} {
			if err := tx.Where("app_id = ?", a.ID).Delete(m).Error; err != nil {
				return err
			}
		}
		if err := tx.Delete(&a).Error; err != nil {
			return err
		}
		return audit(tx, who, "app.destroy", name, "")
	})
}

// Collaborators lists an app's collaborators by name.
func (s *Store) Collaborators(ctx context.Context, appName string) ([]controller.Collaborator, error) {
	var out []controller.Collaborator
	err := s.db.WithContext(ctx).Table("collaborators").
		Select("users.name AS user, collaborators.created_at").
		Joins("JOIN users ON users.id = collaborators.user_id").
		Joins("JOIN apps ON apps.id = collaborators.app_id").
		Where("apps.name = ?", appName).Order("users.name").Scan(&out).Error
	if out == nil {
		out = []controller.Collaborator{}
	}
	return out, err
}

// AddCollaborator gives a user access to an app.
func (s *Store) AddCollaborator(ctx context.Context, who Actor, appName, userName string) (controller.Collaborator, error) {
	var out controller.Collaborator
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		var u user
		if err := tx.Where("name = ?", userName).Take(&u).Error; err != nil {
			return notFound(err, "no user named %s", userName)
		}
		if u.ID == a.OwnerID {
			return controller.Errorf(controller.ErrInvalid, "%s owns %s already", userName, appName)
		}
		var n int64
		if err := tx.Model(&collaborator{}).Where("app_id = ? AND user_id = ?", a.ID, u.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return controller.Errorf(controller.ErrConflict, "%s is already a collaborator on %s", userName, appName)
		}
		c := collaborator{AppID: a.ID, UserID: u.ID, CreatedAt: now()}
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		out = controller.Collaborator{User: u.Name, CreatedAt: c.CreatedAt}
		return audit(tx, who, "access.add", appName, "user "+userName)
	})
	return out, err
}

// RemoveCollaborator takes a collaborator's access away.
func (s *Store) RemoveCollaborator(ctx context.Context, who Actor, appName, userName string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		res := tx.Where("app_id = ? AND user_id = (SELECT id FROM users WHERE name = ?)", a.ID, userName).Delete(&collaborator{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return controller.Errorf(controller.ErrNotFound, "%s is not a collaborator on %s", userName, appName)
		}
		return audit(tx, who, "access.remove", appName, "user "+userName)
	})
}

// Domains lists an app's domains by name.
func (s *Store) Domains(ctx context.Context, appName string) ([]controller.Domain, error) {
	var out []controller.Domain
	err := s.db.WithContext(ctx).Table("domains").
		Select("domains.name, apps.name AS app, domains.created_at").
		Joins("JOIN apps ON apps.id = domains.app_id").
		Where("apps.name = ?", appName).Order("domains.name").Scan(&out).Error
	if out == nil {
		out = []controller.Domain{}
	}
	return out, err
}

// AllDomains lists every domain of every app, for the routing table.
func (s *Store) AllDomains(ctx context.Context) ([]controller.Domain, error) {
	var out []controller.Domain
	err := s.db.WithContext(ctx).Table("domains").
		Select("domains.name, apps.name AS app, domains.created_at").
		Joins("JOIN apps ON apps.id = domains.app_id").
		Order("domains.name").Scan(&out).Error
	return out, err
}

// AddDomain routes a normalized host name to an app. Names are unique
// across all apps.
func (s *Store) AddDomain(ctx context.Context, who Actor, appName, name string) (controller.Domain, error) {
	var out controller.Domain
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		var taken []string
		if err := tx.Table("domains").Select("apps.name").Joins("JOIN apps ON apps.id = domains.app_id").
			Where("domains.name = ?", name).Pluck("apps.name", &taken).Error; err != nil {
			return err
		}
		if len(taken) > 0 {
			if taken[0] == appName {
				return controller.Errorf(controller.ErrConflict, "%s already has domain %s", appName, name)
			}
			return controller.Errorf(controller.ErrConflict, "domain %s is already in use by another app", name)
		}
		d := domain{Name: name, AppID: a.ID, CreatedAt: now()}
		if err := tx.Create(&d).Error; err != nil {
			if isDuplicate(err) {
				return controller.Errorf(controller.ErrConflict, "domain %s is already in use", name)
			}
			return err
		}
		out = controller.Domain{Name: d.Name, App: appName, CreatedAt: d.CreatedAt}
		return audit(tx, who, "domain.add", appName, name)
	})
	return out, err
}

// RemoveDomain removes a domain from an app.
func (s *Store) RemoveDomain(ctx context.Context, who Actor, appName, name string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		res := tx.Where("app_id = ? AND name = ?", a.ID, name).Delete(&domain{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return controller.Errorf(controller.ErrNotFound, "%s has no domain %s", appName, name)
		}
		return audit(tx, who, "domain.remove", appName, name)
	})
}

// configAAD binds a sealed config value to its app and key.
func configAAD(appID int64, key string) []byte {
	return fmt.Appendf(nil, "config/%d/%s", appID, key)
}

func (s *Store) loadConfig(tx *gorm.DB, appID int64) (map[string]string, error) {
	var vars []configVar
	if err := tx.Where("app_id = ?", appID).Find(&vars).Error; err != nil {
		return nil, err
	}
	out := make(map[string]string, len(vars))
	for _, v := range vars {
		pt, err := s.sealer.Open(v.Value, configAAD(appID, v.Key))
		if err != nil {
			return nil, fmt.Errorf("config var %s: %w", v.Key, err)
		}
		out[v.Key] = string(pt)
	}
	return out, nil
}

// replaceConfig makes an app's config exactly vars.
func (s *Store) replaceConfig(tx *gorm.DB, appID int64, vars map[string]string) error {
	if err := tx.Where("app_id = ?", appID).Delete(&configVar{}).Error; err != nil {
		return err
	}
	for k, v := range vars {
		sealed, err := s.sealer.Seal([]byte(v), configAAD(appID, k))
		if err != nil {
			return err
		}
		if err := tx.Create(&configVar{AppID: appID, Key: k, Value: sealed}).Error; err != nil {
			return err
		}
	}
	return nil
}

// Config returns an app's config vars.
func (s *Store) Config(ctx context.Context, appName string) (map[string]string, error) {
	var out map[string]string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var a app
		if err := tx.Where("name = ?", appName).Take(&a).Error; err != nil {
			return notFound(err, "no app named %s", appName)
		}
		var err error
		out, err = s.loadConfig(tx, a.ID)
		return err
	})
	return out, err
}

// SetConfig sets the vars with a value and unsets those given as nil. If
// the app has a release, the change makes a new release with the current
// image and the new config; otherwise it takes effect with the first
// release. A change that changes nothing makes no release.
func (s *Store) SetConfig(ctx context.Context, who Actor, appName string, changes map[string]*string) (controller.ConfigChange, error) {
	if len(changes) == 0 {
		return controller.ConfigChange{}, controller.Errorf(controller.ErrInvalid, "no config vars given")
	}
	var set, unset []string
	for k, v := range changes {
		if err := controller.ValidateConfigKey(k); err != nil {
			return controller.ConfigChange{}, err
		}
		if v == nil {
			unset = append(unset, k)
			continue
		}
		if err := controller.ValidateConfigValue(k, *v); err != nil {
			return controller.ConfigChange{}, err
		}
		set = append(set, k)
	}
	sort.Strings(set)
	sort.Strings(unset)
	var out controller.ConfigChange
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		cfg, err := s.loadConfig(tx, a.ID)
		if err != nil {
			return err
		}
		changed := false
		for k, v := range changes {
			old, had := cfg[k]
			switch {
			case v == nil && had:
				delete(cfg, k)
				changed = true
			case v != nil && (!had || old != *v):
				cfg[k] = *v
				changed = true
			}
		}
		if len(cfg) > controller.MaxConfigVars {
			return controller.Errorf(controller.ErrInvalid, "an app may have at most %d config vars", controller.MaxConfigVars)
		}
		out.Config = cfg
		if !changed {
			return nil
		}
		out.Changed = true
		if err := s.replaceConfig(tx, a.ID, cfg); err != nil {
			return err
		}
		var parts []string
		if len(set) > 0 {
			parts = append(parts, "Set "+strings.Join(set, ", "))
		}
		if len(unset) > 0 {
			parts = append(parts, "Unset "+strings.Join(unset, ", "))
		}
		desc := strings.Join(parts, "; ")
		cur, err := currentRelease(tx, a.ID)
		if err != nil {
			return err
		}
		if cur != nil {
			r, err := s.newRelease(tx, who, a, release{
				Image: cur.Image, Digest: cur.Digest, BuildID: cur.BuildID,
				ProcessTypes: cur.ProcessTypes, Description: desc,
			}, cfg)
			if err != nil {
				return err
			}
			out.Release = &r
		}
		if err := touch(tx, a); err != nil {
			return err
		}
		return audit(tx, who, "config.set", appName, desc)
	})
	return out, err
}

// MaxQuantity is the most instances of one process type.
const MaxQuantity = 100

// Limits accepted for a process type: memory in bytes, CPU in millicores.
const (
	MinMemory = 16 << 20
	MaxMemory = 64 << 30
	MinCPU    = 10
	MaxCPU    = 64000
	MinPids   = 16
	MaxPids   = 32768
)

// formatMemory shows a size in bytes as the CLI reads it: 4G, 1536M.
func formatMemory(b int64) string {
	if b%(1<<30) == 0 {
		return fmt.Sprintf("%dG", b>>30)
	}
	return fmt.Sprintf("%dM", b>>20)
}

// Formation returns an app's process types: those of the current release
// and any scaled before, with the current release's commands.
func (s *Store) Formation(ctx context.Context, appName string) ([]controller.Process, error) {
	var out []controller.Process
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var a app
		if err := tx.Where("name = ?", appName).Take(&a).Error; err != nil {
			return notFound(err, "no app named %s", appName)
		}
		var err error
		out, err = formation(tx, a.ID)
		return err
	})
	return out, err
}

func formation(tx *gorm.DB, appID int64) ([]controller.Process, error) {
	var rows []process
	if err := tx.Where("app_id = ?", appID).Order("type").Find(&rows).Error; err != nil {
		return nil, err
	}
	cur, err := currentRelease(tx, appID)
	if err != nil {
		return nil, err
	}
	cmds := map[string]string{}
	if cur != nil {
		_ = json.Unmarshal([]byte(cur.ProcessTypes), &cmds)
	}
	out := []controller.Process{}
	seen := map[string]bool{}
	for _, p := range rows {
		if _, ok := cmds[p.Type]; len(cmds) > 0 && !ok {
			continue // scaled once, but the current release has no such process type
		}
		seen[p.Type] = true
		out = append(out, controller.Process{Type: p.Type, Quantity: p.Quantity, Memory: p.Memory, CPU: p.CPU, Pids: p.Pids, Command: cmds[p.Type]})
	}
	for t, c := range cmds {
		if !seen[t] {
			out = append(out, controller.Process{Type: t, Command: c})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out, nil
}

// Scale changes the formation. Once an app has a release that names its
// process types, only those types can be scaled.
func (s *Store) Scale(ctx context.Context, who Actor, appName string, updates []controller.ProcessUpdate) ([]controller.Process, error) {
	if len(updates) == 0 {
		return nil, controller.Errorf(controller.ErrInvalid, "nothing to scale: give TYPE=QUANTITY")
	}
	seen := map[string]bool{}
	for _, u := range updates {
		if err := controller.ValidateProcessType(u.Type); err != nil {
			return nil, err
		}
		if seen[u.Type] {
			return nil, controller.Errorf(controller.ErrInvalid, "process type %s given twice", u.Type)
		}
		seen[u.Type] = true
		q := s.quotas
		if u.Quantity != nil && (*u.Quantity < 0 || *u.Quantity > q.MaxProcessInstances) {
			return nil, controller.Errorf(controller.ErrInvalid, "%s=%d: quantity must be between 0 and %d", u.Type, *u.Quantity, q.MaxProcessInstances)
		}
		if u.Memory != nil && *u.Memory != 0 && (*u.Memory < MinMemory || *u.Memory > q.MaxMemory) {
			return nil, controller.Errorf(controller.ErrInvalid, "%s: memory limit must be between %dM and %s", u.Type, MinMemory>>20, formatMemory(q.MaxMemory))
		}
		if u.CPU != nil && *u.CPU != 0 && (*u.CPU < MinCPU || *u.CPU > q.MaxCPU) {
			return nil, controller.Errorf(controller.ErrInvalid, "%s: CPU limit must be between %dm and %dm (millicores)", u.Type, MinCPU, q.MaxCPU)
		}
		if u.Pids != nil && *u.Pids != 0 && (*u.Pids < MinPids || *u.Pids > q.MaxPids) {
			return nil, controller.Errorf(controller.ErrInvalid, "%s: process limit must be between %d and %d", u.Type, MinPids, q.MaxPids)
		}
		if u.Quantity == nil && u.Memory == nil && u.CPU == nil && u.Pids == nil {
			return nil, controller.Errorf(controller.ErrInvalid, "%s: give a quantity or a limit", u.Type)
		}
	}
	var out []controller.Process
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		cur, err := currentRelease(tx, a.ID)
		if err != nil {
			return err
		}
		if cur != nil {
			types := map[string]string{}
			_ = json.Unmarshal([]byte(cur.ProcessTypes), &types)
			if len(types) > 0 {
				for _, u := range updates {
					if _, ok := types[u.Type]; !ok {
						return controller.Errorf(controller.ErrInvalid, "release v%d has no process type %s (it has: %s)", cur.Version, u.Type, strings.Join(sortedKeys(types), ", "))
					}
				}
			}
		}
		var detail []string
		for _, u := range updates {
			p := process{AppID: a.ID, Type: u.Type}
			if err := tx.Where("app_id = ? AND type = ?", a.ID, u.Type).Take(&p).Error; err != nil && err != gorm.ErrRecordNotFound {
				return err
			}
			if u.Quantity != nil {
				p.Quantity = *u.Quantity
			}
			if u.Memory != nil {
				p.Memory = *u.Memory
			}
			if u.CPU != nil {
				p.CPU = *u.CPU
			}
			if u.Pids != nil {
				p.Pids = *u.Pids
			}
			if err := tx.Save(&p).Error; err != nil {
				return err
			}
			d := fmt.Sprintf("%s=%d memory=%d cpu=%dm", p.Type, p.Quantity, p.Memory, p.CPU)
			if p.Pids != 0 {
				d += fmt.Sprintf(" pids=%d", p.Pids)
			}
			detail = append(detail, d)
		}
		if err := touch(tx, a); err != nil {
			return err
		}
		if err := audit(tx, who, "formation.scale", appName, strings.Join(detail, " ")); err != nil {
			return err
		}
		out, err = formation(tx, a.ID)
		if err != nil {
			return err
		}
		// The whole app's count is checked on the result; returning an
		// error rolls every change of this call back.
		if max := s.quotas.MaxAppInstances; max > 0 {
			total := 0
			for _, p := range out {
				total += p.Quantity
			}
			if total > max {
				return controller.Errorf(controller.ErrInvalid, "%s would run %d instances: at most %d per app on this server", appName, total, max)
			}
		}
		return nil
	})
	return out, err
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// HealthChecks lists an app's health checks by process type.
func (s *Store) HealthChecks(ctx context.Context, appName string) ([]controller.HealthCheck, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return nil, err
	}
	return healthChecks(db, a.ID)
}

func healthChecks(tx *gorm.DB, appID int64) ([]controller.HealthCheck, error) {
	var rows []healthCheck
	if err := tx.Where("app_id = ?", appID).Order("type").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]controller.HealthCheck, 0, len(rows))
	for _, h := range rows {
		out = append(out, controller.HealthCheck{Type: h.Type, Path: h.Path, Timeout: h.Timeout, Attempts: h.Attempts})
	}
	return out, nil
}

// SetHealthCheck sets (or, with remove, removes) a process type's health
// check. It applies to instances started from now on.
func (s *Store) SetHealthCheck(ctx context.Context, who Actor, appName string, h controller.HealthCheck, remove bool) error {
	if err := controller.ValidateHealthCheck(h); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		if remove {
			res := tx.Where("app_id = ? AND type = ?", a.ID, h.Type).Delete(&healthCheck{})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return controller.Errorf(controller.ErrNotFound, "%s has no health check for %s", appName, h.Type)
			}
			return audit(tx, who, "healthcheck.unset", appName, h.Type)
		}
		row := healthCheck{AppID: a.ID, Type: h.Type, Path: h.Path, Timeout: h.Timeout, Attempts: h.Attempts}
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		return audit(tx, who, "healthcheck.set", appName, fmt.Sprintf("%s path=%q timeout=%d attempts=%d", h.Type, h.Path, h.Timeout, h.Attempts))
	})
}

// UpdateApp changes an app's HTTP settings.
func (s *Store) UpdateApp(ctx context.Context, who Actor, appName string, u controller.AppUpdate) (controller.App, error) {
	if err := controller.ValidateAppUpdate(u); err != nil {
		return controller.App{}, err
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		set := map[string]any{"updated_at": now()}
		var what []string
		if u.ForceHTTPS != nil {
			set["force_https"] = *u.ForceHTTPS
			what = append(what, fmt.Sprintf("force_https=%t", *u.ForceHTTPS))
		}
		if u.MaxBodyBytes != nil {
			set["max_body_bytes"] = *u.MaxBodyBytes
			what = append(what, fmt.Sprintf("max_body_bytes=%d", *u.MaxBodyBytes))
		}
		if err := tx.Model(&app{}).Where("id = ?", a.ID).Updates(set).Error; err != nil {
			return err
		}
		return audit(tx, who, "app.update", appName, strings.Join(what, " "))
	})
	if err != nil {
		return controller.App{}, err
	}
	return s.App(ctx, appName)
}
