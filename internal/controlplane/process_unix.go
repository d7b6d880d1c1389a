//go:build unix

package controlplane

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// newSysProcAttr puts a child in a process group of its own, so that a
// terminal's Ctrl-C reaches only the parent, which then stops the control
// plane in order, and so that the whole group can be signalled at once.
func newSysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

// terminateGroup sends SIGTERM to the process group led by p.
func terminateGroup(p *os.Process) error {
	return signalGroup(p, syscall.SIGTERM)
}

// killGroup sends SIGKILL to the process group led by p.
func killGroup(p *os.Process) error {
	return signalGroup(p, syscall.SIGKILL)
}

// signalGroup signals every member of the group led by p. A group with no
// members left is not an error.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid, sig)
	if err == nil || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return fmt.Errorf("signal process group %d: %w", p.Pid, err)
}
