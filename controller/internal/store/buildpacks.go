package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"gorm.io/gorm"

	"paas/controller"
)

// appBuildpack is a custom buildpack of an app, its archive kept in the
// store so that every node's builder can be given it.
type appBuildpack struct {
	ID        int64  `gorm:"primaryKey"`
	AppID     int64  `gorm:"not null;uniqueIndex:idx_app_buildpack_name"`
	Name      string `gorm:"size:64;not null;uniqueIndex:idx_app_buildpack_name"`
	Position  int    `gorm:"not null"`
	SHA256    string `gorm:"column:sha256;size:64;not null"`
	Archive   []byte `gorm:"not null"`
	CreatedAt time.Time
}

func (appBuildpack) TableName() string { return "app_buildpacks" }

// migrateAppBuildpacks adds apps' custom buildpacks.
func migrateAppBuildpacks(tx *gorm.DB) error {
	type appBuildpack struct {
		ID        int64  `gorm:"primaryKey"`
		AppID     int64  `gorm:"not null;uniqueIndex:idx_app_buildpack_name"`
		Name      string `gorm:"size:64;not null;uniqueIndex:idx_app_buildpack_name"`
		Position  int    `gorm:"not null"`
		SHA256    string `gorm:"column:sha256;size:64;not null"`
		Archive   []byte `gorm:"not null"`
		CreatedAt time.Time
	}
	return tx.Table("app_buildpacks").Migrator().CreateTable(&appBuildpack{})
}

func buildpackOut(b appBuildpack) controller.Buildpack {
	return controller.Buildpack{Name: b.Name, Position: b.Position, SHA256: b.SHA256, Size: int64(len(b.Archive)), CreatedAt: b.CreatedAt}
}

// Buildpacks lists an app's custom buildpacks in the order they run.
func (s *Store) Buildpacks(ctx context.Context, appName string) ([]controller.Buildpack, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Name      string
		Position  int
		SHA256    string `gorm:"column:sha256"`
		Size      int64
		CreatedAt time.Time
	}
	if err := db.Model(&appBuildpack{}).Select("name, position, sha256, length(archive) AS size, created_at").
		Where("app_id = ?", a.ID).Order("position").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]controller.Buildpack, 0, len(rows))
	for _, b := range rows {
		out = append(out, controller.Buildpack{Name: b.Name, Position: b.Position, SHA256: b.SHA256, Size: b.Size, CreatedAt: b.CreatedAt})
	}
	return out, nil
}

// BuildpackArchives returns the archives of an app's custom buildpacks in
// the order they run, for a build.
func (s *Store) BuildpackArchives(ctx context.Context, appName string) ([][]byte, error) {
	db := s.db.WithContext(ctx)
	a, err := findApp(db, appName)
	if err != nil {
		return nil, err
	}
	var rows []appBuildpack
	if err := db.Where("app_id = ?", a.ID).Order("position").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(rows))
	for _, b := range rows {
		out = append(out, b.Archive)
	}
	return out, nil
}

// AddBuildpack stores a custom buildpack for an app (checked by the
// caller): in place of one of the same name, else last.
func (s *Store) AddBuildpack(ctx context.Context, who Actor, appName, name string, archive []byte) (controller.Buildpack, error) {
	var out controller.Buildpack
	err := s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(archive)
		row := appBuildpack{AppID: a.ID, Name: name, SHA256: hex.EncodeToString(sum[:]), Archive: archive, CreatedAt: now()}
		var old appBuildpack
		err = tx.Select("id", "position").Where("app_id = ? AND name = ?", a.ID, name).Take(&old).Error
		switch {
		case err == nil:
			row.Position = old.Position
			if err := tx.Delete(&appBuildpack{}, old.ID).Error; err != nil {
				return err
			}
		case errors.Is(err, gorm.ErrRecordNotFound):
			var last struct{ N int }
			if err := tx.Model(&appBuildpack{}).Select("COALESCE(MAX(position), 0) AS n").Where("app_id = ?", a.ID).Scan(&last).Error; err != nil {
				return err
			}
			row.Position = last.N + 1
		default:
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		out = buildpackOut(row)
		return audit(tx, who, "buildpack.add", appName, name+" sha256:"+row.SHA256[:12])
	})
	return out, err
}

// RemoveBuildpack removes an app's custom buildpack by name; the ones
// after it move up.
func (s *Store) RemoveBuildpack(ctx context.Context, who Actor, appName, name string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		a, err := lockApp(tx, appName)
		if err != nil {
			return err
		}
		var old appBuildpack
		if err := tx.Select("id", "position").Where("app_id = ? AND name = ?", a.ID, name).Take(&old).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return controller.Errorf(controller.ErrNotFound, "%s has no buildpack %s", appName, name)
		} else if err != nil {
			return err
		}
		if err := tx.Delete(&appBuildpack{}, old.ID).Error; err != nil {
			return err
		}
		if err := tx.Model(&appBuildpack{}).Where("app_id = ? AND position > ?", a.ID, old.Position).
			Update("position", gorm.Expr("position - 1")).Error; err != nil {
			return err
		}
		return audit(tx, who, "buildpack.remove", appName, name)
	})
}
