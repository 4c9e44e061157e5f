#ifndef WXTOKEN_SERVER_GRPC_ARENA_MESSAGES_H_
#define WXTOKEN_SERVER_GRPC_ARENA_MESSAGES_H_

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include <cstddef>

namespace wxtoken::server {

// A unary callback method's request and response, allocated for each call
// on a protobuf Arena whose first block is part of the holder: a call makes
// one allocation, where gRPC's default holder allocates each string and
// sub-message of both messages apart (a GetToken answer: the Token, its two
// strings, three Timestamps and Durations) and frees them one by one. For
// the hot methods (SetMessageAllocatorFor_GetToken); `kBlockBytes` is sized
// so that their messages fit, which tests/unit/arena_messages_test.cc checks.
template <class Request, class Response, size_t kBlockBytes = 2048>
class ArenaMessages final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder();
  }

  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options(block_)) {
      this->set_request(
          google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(
          google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;

    void Release() override { delete this; }

    // For tests: whether everything allocated so far fit in the first block.
    bool FitsInBlock() const { return arena_.SpaceAllocated() <= kBlockBytes; }

   private:
    static google::protobuf::ArenaOptions Options(char* block) {
      google::protobuf::ArenaOptions options;
      options.initial_block = block;
      options.initial_block_size = kBlockBytes;
      return options;
    }

    // Before arena_, which uses it from construction to destruction.
    alignas(std::max_align_t) char block_[kBlockBytes];
    google::protobuf::Arena arena_;
  };
};

}  // namespace wxtoken::server

#endif  // WXTOKEN_SERVER_GRPC_ARENA_MESSAGES_H_
