package api

import (
	"net/http"

	"paas/controller"
	"paas/controller/internal/store"
)

// updateApp changes an app's HTTP settings (redirect to HTTPS, request
// body limit); the router follows with the next routing table.
func (s *server) updateApp(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.AppUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	a, err := s.opt.Store.UpdateApp(r.Context(), who, r.PathValue("app"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.decorate(r, a))
	return nil
}
