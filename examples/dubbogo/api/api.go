// Package api holds the Dubbo contract shared by the demo provider and
// consumer: the Java-style interface name and the hessian2 POJOs.
package api

import (
	hessian "github.com/apache/dubbo-go-hessian2"
)

const (
	// Interface is the Java-style Dubbo interface name (the "path" and
	// "interface" attachments on the wire).
	Interface = "org.meshproto.demo.UserProvider"

	// Wire (Java-style) method names. The Go methods are GetUser/Fail; the
	// provider maps them with MethodMapper and the consumer with `dubbo` tags.
	MethodGetUser = "getUser"
	MethodFail    = "fail"
)

// UserRequest is the argument of getUser (Java class org.meshproto.demo.UserRequest).
type UserRequest struct {
	ID   string            `json:"id" hessian:"id"`
	Tags []string          `json:"tags,omitempty" hessian:"tags"`
	Meta map[string]string `json:"meta,omitempty" hessian:"meta"`
}

// JavaClassName implements hessian.POJO.
func (*UserRequest) JavaClassName() string { return "org.meshproto.demo.UserRequest" }

// User is the result of getUser (Java class org.meshproto.demo.User).
type User struct {
	ID          string            `json:"id" hessian:"id"`
	Name        string            `json:"name" hessian:"name"`
	Age         int32             `json:"age" hessian:"age"`
	Instance    string            `json:"instance" hessian:"instance"`
	Version     string            `json:"version" hessian:"version"`
	Attachments map[string]string `json:"attachments" hessian:"attachments"`
}

// JavaClassName implements hessian.POJO.
func (*User) JavaClassName() string { return "org.meshproto.demo.User" }

func init() {
	hessian.RegisterPOJO(&UserRequest{})
	hessian.RegisterPOJO(&User{})
}
