#include "protocol/row_shape.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/wire.h"

namespace pgtenant::protocol {
namespace {

struct Column {
    std::string name;
    int32_t type = 23;  // int4
    int32_t typmod = -1;
    int16_t format = 0;
    int32_t table = 0;
    int16_t attnum = 0;
};

// A RowDescription body (after the length word).
std::string row_description(const std::vector<Column>& columns) {
    std::string out;
    MessageWriter w(out);
    w.begin('T').int16(static_cast<int16_t>(columns.size()));
    for (const auto& c : columns) {
        int16_t len = c.type == 23 ? 4 : -1;
        w.cstring(c.name).int32(c.table).int16(c.attnum).int32(c.type).int16(len).int32(c.typmod).int16(c.format);
    }
    w.end();
    return out.substr(5);
}

RowShape shape_of(const std::vector<Column>& columns) {
    auto s = row_shape('T', row_description(columns));
    EXPECT_TRUE(s.has_value());
    return s.value_or(0);
}

TEST(RowShape, NamesTypesAndModifiersInOrder) {
    const RowShape a = shape_of({{"a"}});
    EXPECT_EQ(a, shape_of({{"a"}}));
    EXPECT_NE(a, shape_of({{"a"}, {"b", 25}}));     // a column added
    EXPECT_NE(a, shape_of({{"b"}}));                // renamed
    EXPECT_NE(a, shape_of({{"a", 20}}));            // another type
    EXPECT_NE(shape_of({{"c", 1043, 14}}), shape_of({{"c", 1043, 24}}));  // varchar(10) -> (20)
    EXPECT_NE(shape_of({{"a"}, {"b"}}), shape_of({{"b"}, {"a"}}));
    EXPECT_NE(shape_of({{"ab"}, {"c"}}), shape_of({{"a"}, {"bc"}}));
}

// A Describe of the statement reports text formats, one of a portal those of its Bind; and the
// table a column comes from is no part of the result type either.
TEST(RowShape, FormatsAndOriginsAreNotPartOfIt) {
    Column plain{"a"};
    Column binary{"a", 23, -1, 1};
    Column from_table{"a", 23, -1, 0, 16384, 1};
    EXPECT_EQ(shape_of({plain}), shape_of({binary}));
    EXPECT_EQ(shape_of({plain}), shape_of({from_table}));
}

TEST(RowShape, NoDataDiffersFromZeroColumns) {
    auto none = row_shape('n', "");
    ASSERT_TRUE(none);
    auto empty = row_shape('T', row_description({}));
    ASSERT_TRUE(empty);
    EXPECT_NE(*none, *empty);
}

TEST(RowShape, MalformedOrOtherMessages) {
    EXPECT_FALSE(row_shape('D', row_description({{"a"}})));
    EXPECT_FALSE(row_shape('n', "x"));
    std::string body = row_description({{"a"}, {"b"}});
    for (std::size_t cut = 0; cut < body.size(); ++cut)
        EXPECT_FALSE(row_shape('T', body.substr(0, cut))) << cut;
    EXPECT_FALSE(row_shape('T', body + "x"));
    EXPECT_FALSE(row_shape('T', std::string("\xff\xff", 2)));  // negative count
}

}  // namespace
}  // namespace pgtenant::protocol
