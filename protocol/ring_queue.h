#pragma once
// A first-in first-out queue in one circular array that grows by doubling. Once it has held its
// largest backlog, pushing and popping allocate nothing (std::deque allocates a block every few
// elements as its ends move on), which keeps the per-transaction path free of allocations.
#include <cstddef>
#include <utility>
#include <vector>

namespace pgtenant::protocol {

template <typename T>
class RingQueue {
  public:
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    T& front() { return slots_[head_]; }
    const T& front() const { return slots_[head_]; }
    // The i-th element from the front (i < size()).
    const T& at(std::size_t i) const { return slots_[(head_ + i) & (slots_.size() - 1)]; }

    void push_back(T value) {
        if (size_ == slots_.size()) grow();
        slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(value);
        ++size_;
    }
    void pop_front() {
        head_ = (head_ + 1) & (slots_.size() - 1);
        --size_;
    }
    void clear() { head_ = size_ = 0; }

    // Calls f on each element, front first.
    template <typename F>
    void for_each(F&& f) const {
        for (std::size_t i = 0; i < size_; ++i) f(slots_[(head_ + i) & (slots_.size() - 1)]);
    }

  private:
    void grow() {
        std::vector<T> bigger(slots_.empty() ? 8 : slots_.size() * 2);  // a power of two
        for (std::size_t i = 0; i < size_; ++i)
            bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
        slots_.swap(bigger);
        head_ = 0;
    }

    std::vector<T> slots_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace pgtenant::protocol
