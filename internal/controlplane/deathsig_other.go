//go:build unix && !linux

package controlplane

import "syscall"

// setParentDeathSignal does nothing: only Linux offers a parent-death signal.
//
// TODO: children outlive a parent killed by SIGKILL on this platform; a
// watchdog that exits when its stdin pipe from the parent closes would fix it.
func setParentDeathSignal(*syscall.SysProcAttr) {}
