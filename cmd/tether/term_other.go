//go:build !linux

package main

import "os"

func isTerminal(*os.File) bool { return false }

func readNoEcho(*os.File) (string, error) { return "", nil }
