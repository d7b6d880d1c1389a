package controlplane

import "syscall"

// setParentDeathSignal has the kernel kill the child when the parent dies,
// even by SIGKILL, so a crashed or killed test leaves no processes behind.
//
// The signal fires when the OS thread that started the child exits, not only
// when the whole parent does. The Go runtime ends a thread only when a
// goroutine locked to it returns still locked; only then would the children
// die early.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
