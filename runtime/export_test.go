package runtime

import containerd "github.com/containerd/containerd/v2/client"

// Dial gives the external tests the runtime's client.
func Dial(r *Runtime) (*containerd.Client, error) { return r.dial() }

// CommonParent is commonParent, for the external tests.
var CommonParent = commonParent
