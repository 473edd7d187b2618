// Small hand-made inputs in each supported format, written into a temp folder.
#pragma once

#include <zlib.h>

#include <fstream>
#include <string>

#include "core/fs.h"
#include "data/data_config.h"

namespace personas::testing {

inline void write_text(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

inline void write_gzip(const fs::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// 4 users, 5 items, 3 genres; user 1 has 5 ratings, user 2 has 4, user 3 has 3, user 4 has 1.
inline const char* kSmallUData =
    "1\t1\t5\t881250949\n"
    "1\t2\t3\t881250950\n"
    "2\t1\t4\t891717742\n"
    "1\t3\t4\t881250900\n"
    "3\t4\t1\t878887116\n"
    "2\t5\t2\t891717700\n"
    "1\t4\t2\t881251000\n"
    "3\t5\t5\t878887000\n"
    "2\t3\t3\t891717800\n"
    "4\t2\t4\t884182806\n"
    "1\t5\t1\t881250800\n"
    "2\t2\t5\t891717900\n"
    "3\t1\t3\t878887200\n";

inline void write_small_ml100k(const fs::path& folder) {
  fs::create_directories(folder);
  write_text(folder / "u.genre", "unknown|0\nAction|1\nComedy|2\n\n");
  write_text(folder / "u.item",
             "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|1\n"
             "2|GoldenEye (1995)|01-Jan-1995||http://x|0|1|0\n"
             "3|Caf\xe9 au lait (Gazon maudit) (1995)|01-Jan-1995||http://x|0|1|1\n"
             "4|unknown||||1|0|0\n"
             "5|Heat|15-Dec-1995||http://x|0|1|0\n");
  write_text(folder / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n4|33|F|artist|1\n");
  write_text(folder / "u.data", kSmallUData);
}

// A DataConfig for the small files: every user with >= 3 ratings.
inline DataConfig small_config(const fs::path& folder, DataSource source = DataSource::ml100k) {
  DataConfig c;
  c.source = source;
  c.path = folder.string();
  c.n_users = 0;
  c.min_ratings = 3;
  c.max_ratings = 0;
  c.train_fraction = 0.6;
  return c;
}

}  // namespace personas::testing
