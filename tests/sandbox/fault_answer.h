#ifndef WXTOKEN_TESTS_SANDBOX_FAULT_ANSWER_H_
#define WXTOKEN_TESTS_SANDBOX_FAULT_ANSWER_H_

#include <optional>

#include "httplib.h"
#include "tests/sandbox/fault_queue.h"

namespace wxtoken::sandbox {

// How a handler plays an injected fault, shared by the WeChat and WeCom
// routes so every endpoint misbehaves alike.
//
// A handler takes its fault first. An answering one (errcode, http500,
// malformed, drop) replaces the work: count the call, WriteFault, return.
// A delaying one (slow, late) comes back through `*delaying`: the handler
// calls DelayTheWork before the work and DelayTheAnswer after it.

// The fault for one request to `endpoint` if it answers the request
// instead of the state; a slow or late one goes to `*delaying`.
std::optional<Fault> TakeAnsweringFault(FaultQueue& faults, Endpoint endpoint,
                                        std::optional<Fault>* delaying);

// Answers a request the way `fault` says (any kind but slow).
void WriteFault(const Fault& fault, const httplib::Request& req,
                httplib::Response& res);

// A delaying fault (slow or late) before the state does the work: late
// means WeChat got to the request only `delay` after it arrived.
void DelayTheWork(const std::optional<Fault>& delaying);

// After the work: slow answers `delay` late; late drops the answer (true:
// nothing more is written).
bool DelayTheAnswer(const std::optional<Fault>& delaying,
                    const httplib::Request& req, httplib::Response& res);

}  // namespace wxtoken::sandbox

#endif  // WXTOKEN_TESTS_SANDBOX_FAULT_ANSWER_H_
