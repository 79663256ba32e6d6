package zerocopy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestString(t *testing.T) {
	b := []byte("org.example.Greeter")
	s := String(b[4:11])
	assert.Equal(t, "example", s)
	assert.Equal(t, "", String(nil))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = String(b) }))
}
