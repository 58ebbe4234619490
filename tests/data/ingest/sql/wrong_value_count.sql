CREATE TABLE users (
  id int,
  email varchar(100),
  api_key varchar(64),
  api_secret varchar(64),
  created datetime
);
INSERT INTO users VALUES (1, 'a@example.com', '9l8qcla6OOzVLUciRdZxTcJwYYcJnls8z9Po8GdbFjv1JJD86Re64TQLdKz3QXaY', 'wviJ8QwW4afev14xCmzjWWpZUiNcyTYqcQiBdInYBiSjHTETWqjdknt5SZJwpluq', '2024-01-01 00:00:00'),
(2, '0PoMQDBqgH3v3F3azeTrdggOF3rLxVk2mG7T31nhH1sBMKuuljGYsVoDLDAKwoSU', 'eFlMdraJpBqNbAEX1OHncirUXssbJWWD4P0KQAo5JjtHfiqouO9yuuAcIYk7Xiib'),
(3, 'c@example.com', 'AfRE04ujcgOLKWgtjZXv7uyEQc8ag4Wdop6vfiOvW0465Kxz0JM624ni6V1lVIJP', 'ETps4HbSciMKyEqZT7si9kSIIpOCd3ZopGu54wkO8Nz7GTWxg3b3pEIwbfxwGjzn', NULL);
