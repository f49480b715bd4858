package serve

import (
	"strings"
	"testing"

	"paas/builder"
	"paas/controller"
)

// TestStackNamesAreReservedAppNames: the controller refuses every app name
// whose images (paas/<app>:<tag>) would be a stack's, and the builder
// agrees on which those are.
func TestStackNamesAreReservedAppNames(t *testing.T) {
	for _, image := range []string{builder.RunStack, builder.BuildStack} {
		app := strings.TrimPrefix(image, "paas/")
		if err := controller.ValidateNewAppName(app); err == nil {
			t.Errorf("ValidateNewAppName(%q) = nil; want it reserved (the stack image %s)", app, image)
		}
		if err := controller.ValidateAppName(app); err != nil {
			t.Errorf("ValidateAppName(%q) = %v; want nil (an existing app of that name can still be destroyed)", app, err)
		}
	}
}
