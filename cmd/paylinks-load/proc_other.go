//go:build !linux

package main

import (
	"errors"
	"os/exec"
	"time"
)

// Process figures come from /proc; elsewhere they are reported as
// unavailable.

var errNoProc = errors.New("process figures need Linux /proc")

func setChildAttrs(*exec.Cmd) {}

func procMemory(int) (procMem, error) { return procMem{}, errNoProc }

func procCPU(int) (time.Duration, error) { return 0, errNoProc }

func selfCPU() time.Duration { return 0 }
