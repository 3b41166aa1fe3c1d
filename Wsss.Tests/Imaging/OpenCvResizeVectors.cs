namespace Wsss.Tests.Imaging;

/// <summary>
/// Outputs of OpenCV 4.6.0's <c>cv::resize</c> (Debian's libopencv 4.6.0+dfsg, through the engine's former
/// native resizer), captured before the resizer moved to managed code. Each case's input is
/// <see cref="Pattern"/> with the case number as seed; the three strings are base64 of the output bytes
/// for INTER_NEAREST, INTER_LINEAR and INTER_AREA.
/// </summary>
internal static class OpenCvResizeVectors
{
    /// <summary>One case: input size and channels, output size, and OpenCV's outputs.</summary>
    internal sealed record Case(int Seed, int Height, int Width, int Channels, int OutHeight, int OutWidth, string Nearest, string Bilinear, string Area);

    /// <summary>Noise (xorshift32): every pixel differs from its neighbours, so every weight and rounding shows.</summary>
    public static byte[] Pattern(int height, int width, int channels, uint seed)
    {
        var p = new byte[height * width * channels];
        uint s = (seed * 2654435761u) | 1u;
        for (int i = 0; i < p.Length; i++)
        {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            p[i] = (byte)(s >> 24);
        }

        return p;
    }

    public static readonly Case[] Cases =
    [
        new(1, 7, 9, 3, 4, 5,
            "UcDdj+2jxQfp2hn6sdb44M3WqKjH2MXBXr5HaaT+ibFCtSXBJR/t9DiO7PHJ9S7T7Ls7YmTuvBfa2BDO",
            "jsrKW2mak3Gdg1acWpltblSwQ7ZNhRpwqlfJOo2kkK5TX5lm6TcxM252n42Vm4lmcpxvoQ+DMKmrbyGX",
            "k8rIeHiroGSniWqiXJh5iGeoc6SMmEODnGykSYaSn5ljcZSCmklXVnhyjIWNoINlcoBziSeaVoSndSOU"),
        new(2, 7, 9, 3, 13, 17,
            "ooSxooSxwJDkwJDkaKcHaKcH7Ygd7YgdOZirOZirLh2QLh2QdDvudDvuE5K0E5K0Ga/jooSxooSxwJDkwJDkaKcHaKcH7Ygd7YgdOZirOZirLh2QLh2QdDvudDvuE5K0E5K0Ga/jqaXGqaXGW8CAW8CAuMYyuMYyTPTKTPTK+pxo+pxoSVdxSVdxWJ45WJ45TwFGTwFGWw8SqaXGqaXGW8CAW8CAuMYyuMYyTPTKTPTK+pxo+pxoSVdxSVdxWJ45WJ45TwFGTwFGWw8SX1eVX1eVZny9Zny9OLeuOLeuMoQiMoQiDeypDeyp7vqq7vqqIzUAIzUA1Gnu1GnuPEluX1eVX1eVZny9Zny9OLeuOLeuMoQiMoQiDeypDeyp7vqq7vqqIzUAIzUA1Gnu1GnuPEluwDMewDMejQJ6jQJ62y+/2y+/JJ86JJ869OAj9OAjXHdkXHdkQlmAQlmApUO0pUO0LnJTwDMewDMejQJ6jQJ62y+/2y+/JJ86JJ869OAj9OAjXHdkXHdkQlmAQlmApUO0pUO0LnJT/6OK/6OKJOAaJOAa1QOH1QOHaEISaEISDfgBDfgB/wg+/wg+rpVarpVa+cXu+cXuk3mI/6OK/6OKJOAaJOAa1QOH1QOHaEISaEISDfgBDfgB/wg+/wg+rpVarpVa+cXu+cXuk3mIKUSmKUSmlmAalmAaSDTKSDTKWY8hWY8hwKmRwKmRCIn5CIn5VZtQVZtQIiu7Iiu7StwEKUSmKUSmlmAalmAaSDTKSDTKWY8hWY8hwKmRwKmRCIn5CIn5VZtQVZtQIiu7Iiu7StwETrwQTrwQ8o7k8o7k6UQL6UQLrGOVrGOVfQjhfQjhlWSclWSc3hps3hpsazlwazlweWmt",
            "ooSxq4fAu47boZiWcqQhn5oQ5YocmI9gOZirM1edMh+VVy/HaEXnNXPIFJe8F6bVGa/jpI63o5O7oZzDlaWHhK4pma0uuKlOmqJydJmWU2GOOTGJVUiiY1uyPmGfJ2qVK3eeLX6jqKDDlqe0dbSYgrxspMA3js9haeGoncGS3JtyjHJ0RlJ0UnRiWoFVTkFWSBpQTiM9UScyjIezf5CrZ6Ccba+Egr1oasRyRsiHbsKFn7uBk6eEhJSBYINMS2wvbERjeSh4XiZNTyU1ZV2ZZWiiZXuzWZSxRrGnPKZ0NY82KrZmH+akhuql1uOcdIVHOkEekFSTsVzLZ02LPkRnjEZehkVxe0STfFamgnKzX4J9MY81T7lKeOZrktF7o7aFY3dbQkhNjVGdpli/XlqDNVxhwDMesSU5lgtqqRKS0iq3kF2IL5hChr4v9OAjpKhFWnVmTWV0TlaGgkuikEujUWRwLnJT4m9YuHJTbXhJg1dmyCOWnTpuUWgsX6kbeO0Rl48ysD9Rk2Bghnt4tIOvv4XBhXuNZHZv7puMta1qT8wuZI1CuB9+oSFabUQaQ5gQG/IMiXsu6BpNw19Ur5lq0ay32K/XqJGdjYB+e2ibdnR1bYoxcWpPfC6fcUJzYGwkbJo4e8dZcIyIaFurcX56d5NidXijcnS0ap5jZrY3LlaPUVt2j2RIjFZiaDyfY1h6ZYM6i4xltZCdZYnGIoPiS4WSY31fQ02PM0mWRpxJUcoeQ5c+bpBcvISTy2mEu0dRqFNXlW5vkleakjnIfFbAbmy0lVSGqUBndjl6WESEZHJ9a4x5TrwQfq5O1Za/73SX6kwk0FFEsGGNlji5fQjhijm8mWCZwDiA0B5slC5vbUF7dVubeWmt",
            "ooSxpYW3wJDkrJWzaKcHlJ0O7YgdnY9cOZirM1ScLh2QXTHPdDvuKX/BE5K0GKzeGa/jo4m0pIq4spfWpJupc6sNlKUb1pc2nJhlVZmhQViVMiWLWz28cEnULnKvHH2kIpXBIpjFqaXGoKi+W8CAcMFvuMYylNVlTPTKmc2e+pxomHZtSVdxU4ZMWJ45USRDTwFGWg0YWw8SlI+4jpK0XqyRarGEk8JVechsRdSad8WMtrN7lJp+eIWBWYJGSYApazRldR52Vh80Uh8sX1eVYFuZZny9XIm6OLeuNqZ/MoQiIrJeDeypivSq7vqqZ3c5IzUArV251GnuTU18PEluiUdihkhpd0igeFOlfn21YoOHLI8sSrZKcOdwk9J/r8KMW25TMEQ3oFSywFjVRVpvNlpiwDMeui4ojQJ6ngyJ2y+/nlSTJJ86gLww9OAjoKZHXHdkS2N3QlmAj0iopUO0O21eLnJT5HNc03RZUYFDb2lX1xafqDJ2S2ojW6QacO4QmIgyuThOk2VhgHtqwom91Y3VdHh8Z3Zx/6OK56p+JOAaS68y1QOHsRhgaEISQJMKDfgBk3Mj/wg+yWZRrpVa6LrN+cXunoGTk3mIZl+eaGOPdYQadG89cCa3akKDXXkdcpg+jb9oao2bTmTDZId4bplTY2WvX1fJX7Q7X8AqKUSmNUeWlmAahVZBSDTKTlKSWY8hh5tTwKmRWpfLCIn5O5WIVZtQLUSjIiu7RsgYStwESaslWqc35YfH4Hij0kImwU9GoGmElUiohh/Vg0i9gWmpskF+yixoeDR2YDd7cHKScnmVTrwQYLco8o7k8H606UQL1U45rGOVlzu3fQjhiju7lWScxjN83hpshTJvazlwd2SmeWmt"),
        new(3, 8, 12, 3, 4, 6,
            "989iTffkA0r1d1GQ+nlClhqat0+2Y5akRbqnZSxWEdS+gFEy/tFudhodq/vdx2U2zgYq47rJsw0GLtxVbsMgj5sfaXVu9IB/",
            "ulUzcZV/r2q2g5ObcEmFkYNlWISVdm+2hG1ldmutaZKXt1Bcg3R+mbF1YZm3fl50Z012pHOHzVZxirpIlqVwaaWOh5Z2YlNr",
            "ulUzcZV/r2q2g5ObcEmFkYNlWISVdm+2hG1ldmutaZKXt1Bcg3R+mbF1YZm3fl50Z012pHOHzVZxirpIlqVwaaWOh5Z2YlNr"),
        new(4, 9, 12, 1, 3, 4,
            "RBztTitdoPmqpHxg",
            "M3jsrRN2T/Qb67Oz",
            "XUOxjU9+qo1Nb4iE"),
        new(5, 8, 12, 3, 3, 5,
            "2FqZM//dfsut3QR854MoHL2HIfHwVaitcDUL1LqUACKACDcFgtZhfVuoglSt",
            "Rkmnzm7cacl9ZbzGUc3Jl2FmZNd8eIaEqmx3dI5+iVZkkaE5eZmdSjXLkT+z",
            "bYiQY7asaZRwioSQdamRgm5kb5VweGh5jWtpcJp/ZFtWm6d4iIiWb2CJbmqC"),
        new(6, 5, 6, 3, 10, 12,
            "75pZ75pZ7UkO7UkORmOSRmOSJzyQJzyQhq+Lhq+LGXz7GXz775pZ75pZ7UkO7UkORmOSRmOSJzyQJzyQhq+Lhq+LGXz7GXz7psGRpsGR/sNf/sNflWn7lWn7TBpgTBpgpnzvpnzva+53a+53psGRpsGR/sNf/sNflWn7lWn7TBpgTBpgpnzvpnzva+53a+53I96iI96i3No53No5kSdXkSdXS16KS16KAwoPAwoPbtBMbtBMI96iI96i3No53No5kSdXkSdXS16KS16KAwoPAwoPbtBMbtBM0a610a61CW9nCW9nChenChen1VeD1VeDl0oXl0oXtfm3tfm30a610a61CW9nCW9nChenChen1VeD1VeDl0oXl0oXtfm3tfm37RVI7RVIo62oo62o4d1V4d1Vz694z694di8Idi8IHCQeHCQe7RVI7RVIo62oo62o4d1V4d1Vz694z694di8Idi8IHCQeHCQe",
            "75pZ7oZG7V0hw08vcFxxPlmRL0aQP1mPbpKMa6KnNInfGXz73aRn4pVW7HYzy2dFgGWKT1iiO0COSE+MdoacdqCyRZvNLpnauLeDybJ16alZ3JVwn3e7clbDUjSJWTyGh2+7jJvHaL+oV9KYhciVociF2cll3a11rHSzgk24XjaEWDh+cVKkeYGkcMV/bOdsRNeebNaHvNVZ0K1Sp19xgD2AXUd/Q0NxNDBVPFNLXatTbdhXT9KnZc2OkcRdmZhOfUphbzFybk6BXExqOSsvPkomaqpRgNpnprqwjK6bWJZxOW5pMDeFTSqPkUmIolFpgkIxfmc3l8F6o++c2IiaroWRWoGAM3F+PFaMZVKOrmSFwmNloE4vj2Mzj6Nxj8SR5jtjzFRwl4WLiKGMn6h1tKdux552vIBfk08obz4aUVA2QllE7RVI2jtgtYeQsrmT0dFq3NFe07pvuY9cjE8kXywNMicYHCQe",
            "75pZ75pZ7UkO7UkORmOSRmOSJzyQJzyQhq+Lhq+LGXz7GXz775pZ75pZ7UkO7UkORmOSRmOSJzyQJzyQhq+Lhq+LGXz7GXz7psGRpsGR/sNf/sNflWn7lWn7TBpgTBpgpnzvpnzva+53a+53psGRpsGR/sNf/sNflWn7lWn7TBpgTBpgpnzvpnzva+53a+53I96iI96i3No53No5kSdXkSdXS16KS16KAwoPAwoPbtBMbtBMI96iI96i3No53No5kSdXkSdXS16KS16KAwoPAwoPbtBMbtBM0a610a61CW9nCW9nChenChen1VeD1VeDl0oXl0oXtfm3tfm30a610a61CW9nCW9nChenChen1VeD1VeDl0oXl0oXtfm3tfm37RVI7RVIo62oo62o4d1V4d1Vz694z694di8Idi8IHCQeHCQe7RVI7RVIo62oo62o4d1V4d1Vz694z694di8Idi8IHCQeHCQe"),
        new(7, 6, 4, 1, 6, 9,
            "5ubmbW2OjpSUWlpaAABmZjo60tLSJia8vA8PUlJSW1va2sjIMjIyMzOKis7OwMDAGRknJ7W1",
            "5tKcb36MkJOUWksjBjNgVUE60rVpLnG0eSwPUlNYYpvT08vIMjIzOF+FpMPOwKRaGiAmXp21",
            "5uaLbX6OkJSUWloXADNmWzo60tJRJnG8kQ8PUlJZW5va1sjIMjIzM1+Km87OwMBDGSAnS7W1"),
        new(8, 1, 5, 3, 3, 2,
            "iTFXNPOGiTFXNPOGiTFXNPOG",
            "UGPLgAZlUGPLgAZlUGPLgAZl",
            "W1m0hTNuW1m0hTNuW1m0hTNu"),
        new(9, 20, 30, 3, 7, 11,
            "BWxsVLhRYa2wl1vDqcQ1JuwsKIyRwbtVjoox5yEgOVWsVHPUcCh4usCaU7CslOINXbxuRZnhuAgBWg7oU1zMzXr1NvrspqGxi18t0pHD4LjfP1lJmkAwUtiqTUSv4EkPxp9O5/4hrS7P7t8vpd13hu1VFV7t7fICSnDmLnKxkMdAhjiZyq/5CkviMGzEAUZO3+ty8JyYzFfGUl1kA/GjXItdxr6y07CKdXrERaUFDYr+pi9Z+B6hoqvIOnJkeu3PlEdCj0mU06Qp1XyDQt0AFNa/6rePgKnHBZA2wWJj/qIe4ihttRsE",
            "PrmunHuXXDOfFoKFjNyJhnSnmKzUdYrEj63Xl8gyq27TtyJ7dpdj20+0i3LrNkutV16qVp8pRdKwfm+nV1d6pnxSc315foGnSqYr1Rt5qDiHf6l9mj1eXD2DumRMbZCPcjl1YTuPo6yZU50/86hVUFWJqV9EfKGpEMWUcq92P2NadnbNfZHGjqmbulKBeYKTsqMykZSnj0RvJLFqQbGVwJRsfr5vkJbGUHmPC2aoSy6e10S714VRrFWTTVqZoqaTPLQ/VUyhVmrISNgxw0fNqJtLKxG0p3Zdj7JI5tGO3KxFLqouQ++j",
            "VaOCX4mEm42mi5aSpKJvdHSNo2qdiHVsdn2Wc5Jzmp+fenl/Z314mlWWrHCuZF2IbVaJeGxrY5WbhYSBZnlhmpB3m3JojnOYYItQxoJ1d2yXiKeGeGmCbViSsHxYl4NvfGmGfnyQl5STaKBfzKF6bGeQontTe36QUJl6aqxvYHpchI+Fi5OajaGDjX1+f5aZon1zkIqJiHacZahxcJd8lIVnlphllaWSbnpqSHB4e1uSt3Kc0nqUjXWWi3GIfqh6SZVWT5Cbq5OXfphYaZeDjpSNjG6FYW+LU310m5Nsk35pg3FtfpB9"),
        new(10, 9, 7, 3, 21, 4,
            "sKN/HL43kXGCj2WEsKN/HL43kXGCj2WEsKN/HL43kXGCj2WEyKFbQtKq3mK/LEUsyKFbQtKq3mK/LEUs6c9plEfkkV8qfVvc6c9plEfkkV8qfVvcUZ2iU5FtPufuD1DZUZ2iU5FtPufuD1DZUZ2iU5FtPufuD1DZUEZ5vTrkieVJPmuUUEZ5vTrkieVJPmuULH0w/df2yFz/YMq/LH0w/df2yFz/YMq/Y0ILyCDVuH8B8eArY0ILyCDVuH8B8eArY0ILyCDVuH8B8eArQdRqK7Vt6WE0NFMpQdRqK7Vt6WE0NFMpNVF1TieDXZgMe/urNVF1TieDXZgMe/ur",
            "eK1k4J9lGVFSiXzIfa5nxqVsG05KeXm9ibBwfLeDIEQ0S26dlrN5MciZJTodHGR9rKmGgstvU1tmS3WKwp+T0s5EgX6ue4WXp5uU5rtMonq7kG+PdJmR2p1svmSqmEV+V4yR04OKyG2RmjpraGeZ13KisLRrkGtUeUKh2mG6mftGhZw9eWmQm3OVuuVAnKRJepGAXIVw2888s6xVfoBwcHNtvapFsZ5ehVNhrk97gH5VooVmfUpavjSFWVdamW5nW4licCmIXzdIn1pbOchrIx+MZRg2pEVQO45xHB6VSXJFqIJkPVR4FB6eLs1Vrb93PkF6Eh2hJetbrtN+",
            "ca9gzalbL1dbinrCca9gzalbL1dbinrChbNzWMeDP0hFQWqQj7Z9HtaXR0E7HWJ2oauIY9J/X1ZgQW6ExZWe7MlRkIGqioahxZWe7MlRkIGqioahUpiL0n9ytXCtkS17UpiL0n9ytXCtkS17cF6d21yvoMpohXRXf0Gn4EvOlvdGf5hFgWKbsGarr+BOkKBOhqSFUpxm4LRes7FihqSFUpxm4LRes7FijjNi2SugaWdPn35ljjNi2SugaWdPn35lVJVoUCyWdjs+nFlVOMdrDC2SfSU1mkZMOplxDiOcY2I9n3ZeQD97ERCwL9xMqtaCQD97ERCwL9xMqtaC"),
        new(11, 4, 4, 1, 1, 1,
            "7Q==",
            "cw==",
            "ig=="),
        new(12, 3, 5, 1, 7, 3,
            "3jkv3jkv3jkvb5qnb5qnxTbJxTbJ",
            "pwZUoRVkj0GTfW3DiHepkoGOlYSF",
            "nBBRnBBRiVSbgHbAhHWvjHSMjHSM"),
        new(13, 2, 2, 1, 4, 4,
            "gIDh4YCA4eHj493d4+Pd3Q==",
            "gJjJ4ZmqzuDKz9ne4+He3Q==",
            "gIDh4YCA4eHj493d4+Pd3Q=="),
        new(14, 16, 24, 1, 6, 9,
            "zMYLMymcGgjM1aCrkSuxywVtMhln3TzNTqkKwWgcOTUw2/FKGhw46VoELh/j92M7HQWwkLgO",
            "XJivm1W8IC/ngZqMaZVBxXx7Q0MmZ5M/qZA9ylA0NFdCe4COQ3yTP2RFpnKRlW4vLY9vqlui",
            "nnRZYnapMGKvf4hrhZFphnZsfVBWbX1ngZhnimJyYoJSon2Dc2eUbXdhh3ZyvGlnS5lsi2WK"),
        new(15, 11, 3, 3, 5, 1,
            "bGdzKM7M4Xg4oHj2pXzg",
            "MXGpz0kytBQ1WpUsmKLB",
            "WX+EkYx0mIRxYZiWjKOZ"),
        new(16, 33, 17, 1, 10, 40,
            "EhISfX1cXFz09P7+i4uLYGBqakRERFNTxcWTk5MZGfz8ra2tDAyMjPz8/K6uLCwsb2+LiyUlJV9fWVnn5+cAAH19wMDA2dkAAAwMDJmZFRWGhoZgYC0tLW5uVVWpqak+PgMDSUlJlZWdndLS0hgY+vpWVlaPjzAwd3d3hIQyMjKxsdLSurq6r68gIFBQUFxchYXIyMjJyZmZfHx8Dg6amrCwsExMQUFBtbUcHLKysuTk0tJWVlZjY15eHBwciYnJyYmJiXx8ZWUUFBTk5G9vb6SkPj7t7e3i4mlps7OzoKBdXX5+fj8/GhpGRkaGhpWVT09PZ2ft7e2+vk5OjIyMjo5kZO7u7nR0Nzetra3h4Y+PrKysnZ1QUNzc3IiIvr6+NjbBwd/f3ycn0NDp6elvb9nZioqKlZWqqoCAgFRUUlK8vLzk5MnJyRAQ6+vMzMzMzAICTk5OJyeCgmlpadLSd3dnZ2fS0sTEKSkp/v7MzMx+fpubfn5+wMBnZ8zMzA0N9/fs7OyXl3x8v7+/sLDW1g==",
            "f3+Bg4iOnLC6ppGDdm9verDm593AjmqXxKd2YnWKteCxYUuS1I1FLlteZGuQtr60rrW8oIBpW0s5JigtSHmcckhfh5mRh2E7WpGnhWWazt+vpIFfWFFfeINpT3Oenn5hU0VJUGWJqrzNlEcxYI6129W/m14kRGRvgH97d6reyYVbdpKVlaO7woJDaJ6skHRXO3G84tnRy8TQ4dijblQ5Mbq0n4upyMKlkZiflIh0W0dJS1xvc2hgbn2LmKa1v5JlY3FtSigjHh1yeY6jqa+IRSBQgIqRk5CNj5F+Z3Skw4A9SGh2bmqLrKqbhWE+Ozc2YV1RRGWGdEEwecOLRzlWebby376kkXpLHC5SeJ7D1eijPxE6Ymt1eJCbvd+cVT5ESVBWbYaNhYWkw7OalaKmek5nkqWckGpEaau/jFt8nad9dFc6camaXUOK0cazrLCyrKdzNyZAXH6hj29nfI5+bZHGyHcoNkRJtrnByopHP1p1jqe908GRb4OXbz4rN0RUZY282uPjijFMkKBaGVSQow==",
            "U1NxgYOIiMbJuKyif390c6DIxr+/d2eh49Vra3J1qvbsVFSEmXU0NLi4jHR+lpbP06iKf1tbIBgZGyJDQ3B5TRwlaWlvcVIlKoKCUTxmtLSIiHhwc3t7SkdwjaXz8zoiSWuA4uJRM4zx4nBwSj54y8iZmXRldZGRSkpnd1cICJefq7OsmJhNQ22Smbq6QSdalIQSEmaATQULbGy727uAgMHBkHaNxcWcmq69vsLCdGp2gXlXV2NlaGtpX1+/3aJOUpOTRSQlJyckJICyoXp6KCMeGx8rK9Dm29DDg4O4w4Q8RH9/iIqp1cxGRm5+Wxwc6upsKC48PISIorOLCQlVX5/Xv01NzOiOKTJzc3d4d3ZyLS1QXoTKyqenvcmqX19OTVJUbLi4bmScz8ONjbK7lWx2wMCYi2o6QsvLiW1ye3udnWhLZ6ysQzyl7tBvb4qOclpRJydygpy6ube3b1lTSlLc3ItpVC8vBgYUHDNsbJaZi4GAfn4rIFJ/i8LClYuKiYmNjbXCfBobNDRgcp7v7w=="),
        new(17, 12, 18, 3, 12, 18,
            "BfI4qTy6MnVlqhliP4vsSlo7EqBoAjJFOLaBHoeJ8YLYZOMw54R5AuLvDqP2rCKAeWyg7EFC9r/O4j/9VoKXcs8oEWEu8l3bET97rVYO7aAMoE8q1rQt80YoB6aM61NtRw6XHTr59QNs8MzqkMMBE3DCzk4jwLZ5aMlqn6cXGCvxd8E1G3u4NexhT9rJd7Ld3ydnl9Emd43AYyjTaHldoGd/lRCsJI78CiGb7O9cwi5ExoaGeNaXinWmx6GcDBLqTEvEWHP93oxDkkMXKkvRe9Th0axRjmZG2aPeVyX5v9fp7/b20kLlLaVNoodra8u+BjL3zhTA5Fcp5Nv2nrDzievRSVuccVMaCIoFIYEgB6BScO2A18yiCU20zmAncDtPk+hyMEqcN3aZQW1McTj4GUzIHIcuGZPJ9vZRCrUzSLtgmclPx4r6Ztju2RgWUF01iLqHneqgQQvS4H7FPVWyJvaKpliMvhHrRuTH3Dc6cK77wnzi2Zw6ieKrfcjjbNHqxBIRIYmuuJPWtuth4zWjAlS3rXMdjW0+4OruLaGYIiSSH/VNXbU+eoEf1GIT2ai9mr8M/7ycUoT6FBLhvqakC8oXOv4HFilUv58JGqRjmsexFFirh3SRQH+Ahkwab6GKNa2z1MQSzEzfIf7kng9dOZcQcaZlCX++WfyImE2f0SAXdQT+j4QMWm2d0dH6lOwwYexxVqpGs7RYbfL9CGbwsX3XiLeZhaRoZqEBWk/nuLQK4Rnaj2/iXeERAb1enjWqtsHaH5x8rhrt+cPN8w6yv4IqeTcJB/ZOq9eBqF3NF2iGk9Nb3Hj3b6N0TdEDg5CIY9AIYvo9Q8LfLMIlQhB1g2C0Nm03EW2n",
            "BfI4qTy6MnVlqhliP4vsSlo7EqBoAjJFOLaBHoeJ8YLYZOMw54R5AuLvDqP2rCKAeWyg7EFC9r/O4j/9VoKXcs8oEWEu8l3bET97rVYO7aAMoE8q1rQt80YoB6aM61NtRw6XHTr59QNs8MzqkMMBE3DCzk4jwLZ5aMlqn6cXGCvxd8E1G3u4NexhT9rJd7Ld3ydnl9Emd43AYyjTaHldoGd/lRCsJI78CiGb7O9cwi5ExoaGeNaXinWmx6GcDBLqTEvEWHP93oxDkkMXKkvRe9Th0axRjmZG2aPeVyX5v9fp7/b20kLlLaVNoodra8u+BjL3zhTA5Fcp5Nv2nrDzievRSVuccVMaCIoFIYEgB6BScO2A18yiCU20zmAncDtPk+hyMEqcN3aZQW1McTj4GUzIHIcuGZPJ9vZRCrUzSLtgmclPx4r6Ztju2RgWUF01iLqHneqgQQvS4H7FPVWyJvaKpliMvhHrRuTH3Dc6cK77wnzi2Zw6ieKrfcjjbNHqxBIRIYmuuJPWtuth4zWjAlS3rXMdjW0+4OruLaGYIiSSH/VNXbU+eoEf1GIT2ai9mr8M/7ycUoT6FBLhvqakC8oXOv4HFilUv58JGqRjmsexFFirh3SRQH+Ahkwab6GKNa2z1MQSzEzfIf7kng9dOZcQcaZlCX++WfyImE2f0SAXdQT+j4QMWm2d0dH6lOwwYexxVqpGs7RYbfL9CGbwsX3XiLeZhaRoZqEBWk/nuLQK4Rnaj2/iXeERAb1enjWqtsHaH5x8rhrt+cPN8w6yv4IqeTcJB/ZOq9eBqF3NF2iGk9Nb3Hj3b6N0TdEDg5CIY9AIYvo9Q8LfLMIlQhB1g2C0Nm03EW2n",
            "BfI4qTy6MnVlqhliP4vsSlo7EqBoAjJFOLaBHoeJ8YLYZOMw54R5AuLvDqP2rCKAeWyg7EFC9r/O4j/9VoKXcs8oEWEu8l3bET97rVYO7aAMoE8q1rQt80YoB6aM61NtRw6XHTr59QNs8MzqkMMBE3DCzk4jwLZ5aMlqn6cXGCvxd8E1G3u4NexhT9rJd7Ld3ydnl9Emd43AYyjTaHldoGd/lRCsJI78CiGb7O9cwi5ExoaGeNaXinWmx6GcDBLqTEvEWHP93oxDkkMXKkvRe9Th0axRjmZG2aPeVyX5v9fp7/b20kLlLaVNoodra8u+BjL3zhTA5Fcp5Nv2nrDzievRSVuccVMaCIoFIYEgB6BScO2A18yiCU20zmAncDtPk+hyMEqcN3aZQW1McTj4GUzIHIcuGZPJ9vZRCrUzSLtgmclPx4r6Ztju2RgWUF01iLqHneqgQQvS4H7FPVWyJvaKpliMvhHrRuTH3Dc6cK77wnzi2Zw6ieKrfcjjbNHqxBIRIYmuuJPWtuth4zWjAlS3rXMdjW0+4OruLaGYIiSSH/VNXbU+eoEf1GIT2ai9mr8M/7ycUoT6FBLhvqakC8oXOv4HFilUv58JGqRjmsexFFirh3SRQH+Ahkwab6GKNa2z1MQSzEzfIf7kng9dOZcQcaZlCX++WfyImE2f0SAXdQT+j4QMWm2d0dH6lOwwYexxVqpGs7RYbfL9CGbwsX3XiLeZhaRoZqEBWk/nuLQK4Rnaj2/iXeERAb1enjWqtsHaH5x8rhrt+cPN8w6yv4IqeTcJB/ZOq9eBqF3NF2iGk9Nb3Hj3b6N0TdEDg5CIY9AIYvo9Q8LfLMIlQhB1g2C0Nm03EW2n"),
    ];
}
